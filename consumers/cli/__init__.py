"""The ``pue`` command line: one dispatch style for every command.

Each command lives in a module of this package that has ``register(subparsers)``: it adds its parser and
sets ``handler=<callable(argparse.Namespace) -> int>`` on it with ``set_defaults``. ``main`` parses the
arguments and calls the handler; a ``ConfigError`` becomes a clear message and exit code 2; Ctrl-C exits 130
and SIGTERM, turned into the same exception (``consumers.cli.stop_signals``), 143. To add a
command, write such a module and list it in ``COMMAND_MODULES``. Before anything else, ``main`` checks that
``consumers``, ``destinations`` and ``schemas`` are pue's own (``consumers.config.installation``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Standard library only, like this module's other imports: it runs before anything imports schemas.
from consumers.config.installation import check_installation

EXIT_USAGE = 2

# In the order ``pue --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "consumers.cli.local_commands",  # replay, sample
    "consumers.cli.read_commands",  # recommend, profile
    "consumers.cli.demo",  # run
    "consumers.cli.serve",
    "consumers.cli.export",
    "consumers.cli.validate",
    "consumers.cli.catalog",
    "consumers.cli.campaign_hook",
    "consumers.cli.segment_import",
    "consumers.cli.consume",
    "consumers.cli.refresh_sweep",
    "consumers.cli.redrive",
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pue",
        description="Segment events on Kinesis -> Amazon Personalize -> Personas traits and Pinpoint "
        "attributes. Runs on an embedded local backend (SQLite under --state) when no cloud is configured.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log one JSON line per batch to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    broken = check_installation()
    if broken is not None:
        sys.stderr.write(broken)
        return EXIT_USAGE
    args = parser().parse_args(argv)
    from consumers.cli.stop_signals import Terminated, exit_status, sigterm_as_interrupt
    from consumers.config.logs import configure_logging
    from consumers.config.printable import printable
    from schemas.errors import ConfigError

    configure_logging("INFO" if args.verbose else "WARNING")
    restore = sigterm_as_interrupt()  # SIGTERM cleans up as Ctrl-C does (a command may handle both itself)
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as exc:
        sys.stderr.write(printable(f"pue: {exc}", keep="\n") + "\n")  # one problem a line
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        sys.stderr.write(f"pue: {'terminated' if isinstance(exc, Terminated) else 'interrupted'}\n")
        return exit_status(exc)
    finally:
        restore()


if __name__ == "__main__":
    raise SystemExit(main())
