"""The recommendations HTTP API: ``handler`` for API Gateway, ``pue serve`` (``consumers.cli.serve``).

Importing the package stays cheap (the ``pue`` CLI imports ``consumers.cli.serve`` for every command):
the handler module, and with it the pipeline and boto3, loads on the first invocation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def handler(event: Mapping[str, Any], context: object) -> Any:
    """``consumers.api.handler``: the Lambda entry point (see ``consumers.api.lambda_handler``)."""
    from consumers.api.lambda_handler import handler as lambda_handler

    return lambda_handler(event, context)
