"""What the ``pue`` commands share: exit codes, argument types, ``--state`` and the settings of local runs,
output helpers."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from consumers.config.printable import printable
from consumers.config.settings import DEFAULT_STATE_DIR, Settings
from schemas.limits import GET_RECOMMENDATIONS_MAX_RESULTS

EXIT_FAILED = 1
EXIT_USAGE = 2  # as argparse: the command line needs changing (another --port)
STATE_HELP = "state directory of the local backend (default: $PUE_STATE_DIR, else ./.pue)"

Subparsers = argparse._SubParsersAction  # the type register(subparsers) receives


def state_dir(value: str | None) -> Path:
    """``--state``, else ``$PUE_STATE_DIR``, else ``./.pue``."""
    return Path(value or os.environ.get("PUE_STATE_DIR") or DEFAULT_STATE_DIR)


def local_settings(state: str | None) -> Settings:
    """The local backend's settings from the environment; cloud settings are not read (local commands)."""
    return dataclasses.replace(Settings.local_from_env(), backend="local", state_dir=state_dir(state))


def reader_settings(state: str | None) -> Settings:
    """For recommend and profile: the configured backend, needing only what reading it takes."""
    return dataclasses.replace(Settings.reader_from_env(), state_dir=state_dir(state))


def non_negative(text: str) -> int:
    return _whole_number(text, 0)


def positive(text: str) -> int:
    return _whole_number(text, 1)


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def num_results(text: str) -> int:
    value = positive(text)
    if value > GET_RECOMMENDATIONS_MAX_RESULTS:
        raise argparse.ArgumentTypeError(f"must be at most {GET_RECOMMENDATIONS_MAX_RESULTS}, got {value}")
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def top_reasons(reasons: dict[str, int], n: int = 3) -> str:
    """The ``n`` most frequent reasons with their counts, most frequent first."""
    top = sorted(reasons.items(), key=lambda kv: -kv[1])[:n]
    # Reasons and event names carry what the stream sent: escaped before they reach a terminal.
    return printable(", ".join(f"{reason}: {count}" for reason, count in top))


def problem_line(command: str, error: object, *, after_progress: bool = False) -> str:
    """``pue COMMAND: error`` for stderr, escaped: an error's text can quote what the stream, a letter or an
    archive held (an id, a key, a line), and such bytes must not reach a terminal as control sequences."""
    lead = "\n" if after_progress else ""
    return lead + printable(f"pue {command}: {error}", keep="\n") + "\n"
