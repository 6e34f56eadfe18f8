"""Responses compressed on the way out: HTML, JSON and CSV, when the client accepts it.

Flask-Compress does the work after each request. The static files are not its business: the
pages' assets and the PWA's are compressed once at start and already carry their
``Content-Encoding``, which Flask-Compress leaves alone. Streamed exports are gzipped here,
chunk by chunk as they stream: Flask-Compress would wrap their ``stream_with_context`` in a
second one, and Flask 3.1 cannot pop two such contexts in the order that makes.

Compression and secrets (BREACH): a secret repeated in every response of a page, beside text an
attacker can put there, can be read from the compressed sizes. The one such secret of the pages,
the CSRF token, is masked afresh in every response (``server/csrf.py``), so no two responses
repeat it. Sessions are cookies, never in a body; the API's bearer tokens are not sent by the
browser on its own, so a cross-site page cannot make the requests it would need to measure.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Flask, Response, request
from flask_compress import Compress

COMPRESSED_TYPES = ["text/html", "application/json", "application/fhir+json", "text/csv"]
# zstd and br where the browser offers them (over https), else gzip; deflate is left out (its
# framing has been read two ways by browsers)
ALGORITHMS = ["zstd", "br", "gzip"]
GZIP_LEVEL = 6  # Flask-Compress's default: most of level 9's gain for a third of its time


def install_compression(app: Flask) -> None:
    """Compress the app's HTML, JSON and CSV answers, streamed ones too."""
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ALGORITHMS)
    app.config.setdefault("COMPRESS_LEVEL", GZIP_LEVEL)
    app.config["COMPRESS_STREAMS"] = False  # ours: see gzip_stream
    Compress(app)
    app.after_request(gzip_stream)


def gzip_stream(response: Response) -> Response:
    """A streamed answer of a compressed type, gzipped as it streams, when gzip is accepted."""
    if (
        not response.is_streamed
        or response.status_code != 200
        or response.mimetype not in COMPRESSED_TYPES
        or "Content-Encoding" in response.headers
    ):
        return response
    response.vary.add("Accept-Encoding")
    if request.accept_encodings.quality("gzip") <= 0:
        return response
    source: Iterable[Any] = response.response
    response.response = _gzipped(response.iter_encoded(), source)
    response.headers["Content-Encoding"] = "gzip"
    response.headers.pop("Content-Length", None)
    return response


def _gzipped(chunks: Iterator[bytes], source: Iterable[Any]) -> Iterator[bytes]:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    try:
        for chunk in chunks:
            if compressed := compressor.compress(chunk):
                yield compressed
        yield compressor.flush()
    finally:
        # the view's generator holds its request context (and a database session) until closed
        close = getattr(source, "close", None)
        if close is not None:
            close()
