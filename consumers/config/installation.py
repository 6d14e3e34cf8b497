"""Is ``consumers``, ``destinations`` and ``schemas`` pue's own? Checked when ``pue`` starts.

pue's wheel installs three top-level packages, and PyPI has unrelated distributions called ``consumers`` and
``schemas``. Installed into the same environment, pip puts both in one ``site-packages/schemas/`` folder:
the later one overwrites the other's files, and uninstalling either deletes files of both; a folder of that
name earlier on ``sys.path`` shadows pue's instead. Both end in confusing ImportErrors far from the cause,
so ``pue`` looks first and names the conflict. Install pue in its own environment (``pipx install .`` or a
virtual environment of its own; README, "Install pue").

Standard library only, and imported before any other pue module: the packages it checks may not be pue's.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Final

TOP_LEVEL_PACKAGES: Final = ("consumers", "destinations", "schemas")
MARK: Final = "__pue__"  # set to True in the __init__ of each of pue's top-level packages
ADVICE: Final = (
    "install pue in an environment of its own: pipx install PATH_TO_PUE, or a virtual environment used for "
    "pue alone (README, Install)"
)


def installation_problems() -> list[str]:
    """What makes this environment's top-level packages not pue's own; empty when all is well."""
    problems = []
    for name in TOP_LEVEL_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            problems.append(f"the {name!r} package cannot be imported ({error})")
            continue
        if getattr(module, MARK, None) is not True:
            where = getattr(module, "__file__", None) or ", ".join(getattr(module, "__path__", [])) or "?"
            problems.append(
                f"the {name!r} package Python finds ({where}) is not pue's: another distribution or folder "
                f"named {name!r} overwrote or shadows it"
            )
        try:
            other = distribution(name)
        except PackageNotFoundError:
            continue
        location = Path(str(other.locate_file(""))).resolve()
        problems.append(
            f"the distribution {other.metadata['Name']!r} {other.version} is installed beside pue "
            f"({location}) and shares its top-level package {name!r}: uninstalling either breaks the other"
        )
    return problems


def check_installation() -> str | None:
    """The message to stop with, naming every problem and the fix; None when the packages are pue's."""
    problems = installation_problems()
    if not problems:
        return None
    return "pue: this installation is broken:\n" + "".join(f"  - {p}\n" for p in problems) + f"  {ADVICE}\n"
