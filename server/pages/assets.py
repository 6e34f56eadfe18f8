"""The pages' static files, served like the PWA's: content-hashed URLs, cached for a year, gzip.

Our own CSS and JS come from ``static/``; plotly.js is its basic bundle (bar, pie and scatter
traces: all the charts draw, at a quarter of the full bundle's size), vendored in ``vendor/``
with its version, source and checksum in ``vendor/plotly-basic.toml``, never a CDN (clinics may
be offline; patient data stays here). Each file has its own hash, so a new stylesheet does not
make browsers fetch plotly.js again.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Response, abort, current_app, request, url_for
from markupsafe import Markup

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_DIR = Path(__file__).parent / "vendor"
PLOTLY_BUNDLE = VENDOR_DIR / "plotly-basic.min.js"
PLOTLY_JS = "plotly.min.js"  # the name the templates ask for, whichever bundle it is
YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class Asset:
    """One file: its bytes, their gzip form, a hash of them and its media type."""

    body: bytes
    gzipped: bytes
    digest: str
    mimetype: str


def _asset(name: str, body: bytes) -> Asset:
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if mimetype == "application/javascript":
        mimetype = "text/javascript"
    return Asset(
        body=body,
        gzipped=gzip.compress(body, 9, mtime=0),
        digest=hashlib.sha256(body).hexdigest()[:12],
        mimetype=mimetype,
    )


def load_page_assets() -> dict[str, Asset]:
    """Read every file of ``static/`` and the vendored plotly.js once, at start."""
    assets = {
        path.name: _asset(path.name, path.read_bytes())
        for path in sorted(STATIC_DIR.iterdir())
        if path.is_file()
    }
    assets[PLOTLY_JS] = _asset(PLOTLY_JS, PLOTLY_BUNDLE.read_bytes())
    return assets


def page_assets() -> dict[str, Asset]:
    """The assets of the running app."""
    loaded: dict[str, Asset] = current_app.extensions["page_assets"]
    return loaded


def page_asset(name: str) -> str:
    """The content-hashed URL of a page asset (a template global)."""
    return url_for("pages.asset", digest=page_assets()[name].digest, name=name)


def serve_asset(digest: str, name: str) -> Response:
    """A page asset, cached for a year (the URL changes with the content); gzip when accepted."""
    asset = page_assets().get(name)
    if asset is None or asset.digest != digest:
        abort(404)
    compressed = "gzip" in request.headers.get("Accept-Encoding", "")
    response = Response(asset.gzipped if compressed else asset.body, mimetype=asset.mimetype)
    if compressed:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response


def figure_json(figure: Any) -> Markup:
    """A plotly Figure as JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` only occur inside JSON strings, where their \\u escapes mean the
    same, so no text in a figure can close the script element.
    """
    text: str = figure.to_json()
    return Markup(  # noqa: S704 - escaped just above: no markup can survive
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
