"""Serves the patient app in pwa/: its pages, the service worker and versioned, cached assets.

Every asset is served under /a/<version>/, where the version is a hash of all the app's files, so a
new release has new URLs (cached for a year) and the service worker replaces its cache cleanly.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, request

from server.config import REPO_ROOT

PWA_DIR = REPO_ROOT / "pwa"
# rendered per request rather than served as assets
TEMPLATES = {"index.html", "sw.js", "manifest.webmanifest"}
YEAR = 365 * 24 * 3600

bp = Blueprint("pwa", __name__, template_folder=str(PWA_DIR))


@dataclass(frozen=True)
class Bundle:
    """The app's assets, read once at start: contents, gzip forms, and the version hash."""

    version: str
    files: dict[str, bytes]
    gzipped: dict[str, bytes]

    def url(self, name: str) -> str:
        """The versioned URL of an asset."""
        return f"/a/{self.version}/{name}"


def load_bundle(root: Path = PWA_DIR) -> Bundle:
    """Read every asset under ``root`` (not templates or tools) and hash them all together."""
    files = {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in TEMPLATES and path.suffix != ".py"
    }
    digest = hashlib.sha256()
    for name in [*files, *sorted(TEMPLATES)]:
        digest.update(name.encode())
        digest.update(files[name] if name in files else (root / name).read_bytes())
    return Bundle(
        version=digest.hexdigest()[:12],
        files=files,
        gzipped={name: gzip.compress(body, 9, mtime=0) for name, body in files.items()},
    )


def bundle() -> Bundle:
    """The bundle of the running app."""
    loaded: Bundle = current_app.extensions["pwa_bundle"]
    return loaded


def _page(body: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-cache"  # always revalidated: it names the version
    return response


def _context() -> dict[str, object]:
    assets = bundle()
    return {
        "version": assets.version,
        "asset": assets.url,
        "precache": [assets.url(name) for name in assets.files],
    }


@bp.get("/")
@bp.get("/enrol")
@bp.get("/history")
@bp.get("/checkin/<int:checkin_id>")
def app_shell(checkin_id: int | None = None) -> Response:
    """The app shell: every patient page is the same document; the app routes on the path."""
    response = _page(render_template("index.html", **_context()), "text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"  # enrolment and link tokens stay here
    return response


@bp.get("/sw.js")
def service_worker() -> Response:
    """The service worker, with this version's asset list to precache."""
    response = _page(render_template("sw.js", **_context()), "text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest, pointing at this version's icons."""
    return _page(render_template("manifest.webmanifest", **_context()), "application/manifest+json")


@bp.get("/a/<version>/<path:name>")
def asset(version: str, name: str) -> Response:
    """A versioned asset, cached for a year; gzip when the browser takes it."""
    assets = bundle()
    if version != assets.version or name not in assets.files:
        abort(404)
    compressed = "gzip" in request.headers.get("Accept-Encoding", "")
    body = assets.gzipped[name] if compressed else assets.files[name]
    mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if mimetype == "application/javascript":
        mimetype = "text/javascript"
    response = Response(body, mimetype=mimetype)
    if compressed:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response
