"""Secrets from AWS Secrets Manager, resolved once per process (a Lambda cold start) and cached.

The deployment never puts a secret in an environment variable: it sets ``<NAME>_SECRET_ARN`` instead
(``SEGMENT_WRITE_KEY_SECRET_ARN``...), and ``resolve_secrets`` turns that into ``<NAME>`` in a copy of the
environment before ``Settings.from_env`` reads it. A secret holds the value itself, or a JSON object with the
value under ``<NAME>`` (what the console's key/value editor writes). Values are registered with the log
redaction filter the moment they are read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, Final

from consumers.config.logs import register_secret
from destinations.aws.errors import translated
from schemas.errors import ConfigError, PermanentError, PueError

SERVICE: Final = "secretsmanager"
SECRET_NAMES: Final = ("SEGMENT_WRITE_KEY", "SEGMENT_PROFILE_TOKEN", "PUE_API_KEY")
ARN_SUFFIX: Final = "_SECRET_ARN"

_cache: dict[str, str] = {}  # secret ARN -> value, for the life of the process
_lock = threading.Lock()


def resolve_secrets(env: Mapping[str, str], *, client: Any | None = None) -> dict[str, str]:
    """A copy of ``env`` with each ``<NAME>`` filled from the secret ``<NAME>_SECRET_ARN`` names.

    Each secret is fetched once per process (GetSecretValue); ``client`` is a boto3 Secrets Manager client,
    built on first need if not given. Raises ``ConfigError`` naming every variable that could not be
    resolved, and why (an error code, never a value).
    """
    resolved = dict(env)
    problems: list[str] = []
    with _lock:
        for name in SECRET_NAMES:
            arn = env.get(name + ARN_SUFFIX, "").strip()
            if not arn:
                continue
            if env.get(name, "").strip():
                problems.append(f"set {name} or {name}{ARN_SUFFIX}, not both")
                continue
            try:
                if arn not in _cache:
                    if client is None:
                        client = _make_client()
                    _cache[arn] = _fetch(client, arn, name)
            except PueError as exc:
                problems.append(f"{name}{ARN_SUFFIX}: cannot read the secret ({_why(exc)})")
                continue
            register_secret(_cache[arn])
            resolved[name] = _cache[arn]
    if problems:
        raise ConfigError(problems)
    return resolved


def clear_cache() -> None:
    """Forget every fetched secret (tests; a rotated secret is picked up by the next cold start)."""
    with _lock:
        _cache.clear()


def _make_client() -> Any:
    from destinations.aws.clients import make_client

    return make_client(SERVICE)


def _fetch(client: Any, arn: str, name: str) -> str:
    with translated(SERVICE):
        response = client.get_secret_value(SecretId=arn)
    text = response.get("SecretString")
    if not isinstance(text, str):
        raise PermanentError("it has no string value (binary secrets are not read)", service=SERVICE)
    value = _value_of(text, name).strip()
    if not value:
        raise PermanentError("it is empty", service=SERVICE)
    return value


def _value_of(text: str, name: str) -> str:
    if not text.lstrip().startswith("{"):
        return text
    try:
        document = json.loads(text)
    except ValueError:
        return text  # not JSON after all: the value itself
    value = document.get(name) if isinstance(document, dict) else None
    if not isinstance(value, str):
        raise PermanentError(f"it is a JSON object without a string {name!r} key", service=SERVICE)
    return value


def _why(error: PueError) -> str:
    """What went wrong, from the error's own fields: service messages may quote request values."""
    if isinstance(error, ConfigError):  # no credentials or region
        return "; ".join(error.problems)
    return error.message + (f" [{error.code}]" if error.code else "")
