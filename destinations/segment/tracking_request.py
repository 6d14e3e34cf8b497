"""segment-analytics-python's ``request`` module (``post``, ``APIError``) without the rest of the library.

``segment/analytics/__init__.py`` imports the background ``Client``, whose OAuth manager imports PyJWT, and
PyJWT imports cryptography when it is installed (segment-analytics-python requires it): about 40 ms of a
Lambda cold start (docs/performance.md) for code the Personas sink never runs, since it posts batches itself
with the write key. The ``request`` module needs only ``segment.analytics.utils`` and ``.version``, so it is
loaded under the package's spec with the package's ``__init__`` left unexecuted. Then the half-made package
and the submodules loaded with it are taken out of ``sys.modules`` again, so nothing else in the process ever
sees them: a later ``import segment.analytics`` loads the whole library afresh, as if this had not run (its
``request`` is then a second copy; the sink keeps using the ``post`` and ``APIError`` of this one).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType

PACKAGE = "segment.analytics"
MODULE = f"{PACKAGE}.request"
_lock = threading.Lock()
_loaded: ModuleType | None = None  # this process's copy, loaded once (its requests session included)


def segment_request_module() -> ModuleType:
    """``segment.analytics.request``, importing neither the library's client nor jwt nor cryptography."""
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        if PACKAGE in sys.modules:  # the whole library is already loaded: nothing left to save
            return importlib.import_module(MODULE)
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {PACKAGE!r}", name=PACKAGE)
        before = set(sys.modules)
        sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)  # __path__ set, __init__ not run
        try:
            _loaded = importlib.import_module(MODULE)
            return _loaded
        finally:
            for name in set(sys.modules) - before:
                if name == PACKAGE or name.startswith(PACKAGE + "."):
                    del sys.modules[name]
