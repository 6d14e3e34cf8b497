"""Settings for the commands that run the whole pipeline (``pue consume``, ``pue redrive``,
``pue refresh-due``): the environment, with ``--backend`` and ``--state`` taking precedence."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from consumers.config.settings import DEFAULT_STATE_DIR, Settings

if TYPE_CHECKING:
    from consumers.stream.pipeline import Pipeline


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state",
        metavar="DIR",
        help="state directory of the local backend (default $PUE_STATE_DIR, else ./.pue)",
    )
    parser.add_argument("--backend", choices=("local", "aws"), help="default: $PUE_BACKEND, else local")


def settings_for(args: argparse.Namespace) -> Settings:
    """Validated settings for ``args``; raises ``ConfigError`` naming every problem."""
    from consumers.config.secrets import resolve_secrets

    env = dict(os.environ)
    env["PUE_BACKEND"] = args.backend or env.get("PUE_BACKEND") or "local"
    env["PUE_STATE_DIR"] = args.state or env.get("PUE_STATE_DIR") or DEFAULT_STATE_DIR
    # Through the environment, not dataclasses.replace: validation then covers the chosen backend.
    return Settings.from_env(resolve_secrets(env))


@contextmanager
def opened_pipeline(settings: Settings) -> Iterator[Pipeline]:
    """The pipeline for ``settings``, closed (with the local backend, when open) on the way out."""
    from consumers.bootstrap.stream import build_pipeline

    pipeline, wiring = build_pipeline(settings)
    try:
        yield pipeline
    finally:
        pipeline.close()
        if wiring.local is not None:
            wiring.local.close()
