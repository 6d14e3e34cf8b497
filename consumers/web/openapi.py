"""The OpenAPI 3 document (``schemas/openapi.json``): the API's contract, served at ``/openapi.json``.

It is the source of truth: the tests validate every response against it and a schemathesis run checks
``pue serve`` against it. JSON rather than YAML so reading it needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

OPENAPI_PACKAGE: Final = "schemas"
OPENAPI_FILE: Final = "openapi.json"


def document_bytes() -> bytes:
    """The document as shipped in the package (package-data), byte for byte."""
    return resources.files(OPENAPI_PACKAGE).joinpath(OPENAPI_FILE).read_bytes()


def load_document() -> dict[str, Any]:
    document = json.loads(document_bytes())
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise ValueError(f"{OPENAPI_PACKAGE}/{OPENAPI_FILE} is not an OpenAPI 3 document")
    return document
