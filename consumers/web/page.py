"""The web page: ``GET /`` and ``GET /static/{file}``, plain files shipped in the package, no auth.

The page holds no secret (the API key is typed in by its user and kept in the browser session), so it is
served without a key; every call it makes to the API carries one. Files are read once from the installed
package (package-data ``consumers/static/*``), so a wheel serves exactly what it shipped. Only text types
are served: the Lambda proxy answer is text, and the page needs nothing else.

The Content-Security-Policy allows scripts, styles and API calls from this origin only (no inline code, no
CDN); images may also come from catalog URLs.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from consumers.web.contract import ApiError, ApiRequest, ApiResponse

STATIC_PACKAGE: Final = "consumers.web"
STATIC_DIR: Final = "static"
INDEX: Final = "index.html"
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: https: http:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _suffix(name: str) -> str:
    return name[name.rfind(".") :] if "." in name else ""


def load_static() -> dict[str, bytes]:
    """File name -> bytes, for every servable file of the static folder."""
    folder = resources.files(STATIC_PACKAGE).joinpath(STATIC_DIR)
    if not folder.is_dir():
        return {}
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and _suffix(entry.name) in CONTENT_TYPES
    }


class StaticPage:
    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self._files = load_static() if files is None else files

    def index(self, request: ApiRequest) -> ApiResponse:
        return self._serve(INDEX)

    def asset(self, request: ApiRequest) -> ApiResponse:
        return self._serve(request.path.split("/", 2)[2])  # "/static/a/b": "a/b", no such file

    def _serve(self, name: str) -> ApiResponse:
        body = self._files.get(name)
        if body is None:
            if name == INDEX:
                raise ApiError(404, "not_found", "the web page is not installed (consumers/web/static)")
            raise ApiError(404, "not_found", "no such file")
        headers = {"Content-Type": CONTENT_TYPES[_suffix(name)]}
        if name == INDEX:
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return ApiResponse(200, body, headers)
