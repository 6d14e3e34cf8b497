"""Lambda entry point behind API Gateway (``consumers.api.handler`` in deploy/template.yaml).

Thin on purpose: translate the event, call the API, translate the answer. The API (and with it botocore) is
imported and built on the first invocation and reused while the container lives, so importing this module
stays cheap. Settings are validated at that cold start: a missing API
key or a malformed setting fails the init with a ``ConfigError`` naming every problem, rather than serving
an API anyone could call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consumers.web.apigateway import ProxyResponse
    from consumers.web.routes import Api

_api: Api | None = None
_lock = threading.Lock()


def _cold_start() -> Api:
    global _api
    with _lock:
        if _api is None:
            from consumers.bootstrap.api import build_api
            from consumers.config.api_settings import load_settings
            from consumers.config.logs import configure_logging
            from consumers.config.secrets import resolve_secrets

            env = resolve_secrets(os.environ)  # PUE_API_KEY_SECRET_ARN -> PUE_API_KEY, and friends
            settings, api_settings = load_settings(env, require_key=True)
            configure_logging(settings.log_level)
            _api = build_api(settings, api_settings)
        return _api


def reset() -> None:
    """Drop the built API (tests; a new container would start over the same way)."""
    global _api
    with _lock:
        if _api is not None:
            _api.close()
        _api = None


def handler(event: Mapping[str, Any], context: object) -> ProxyResponse:
    from consumers.web.apigateway import handle_event

    return handle_event(event, _cold_start())
