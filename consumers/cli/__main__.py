"""``python -m consumers.cli``: the ``pue`` command."""

from consumers.cli import main

raise SystemExit(main())
