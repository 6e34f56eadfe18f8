"""Fetch plotly.js's basic bundle from its npm tarball, verify it, and vendor it beside this file.

    .venv/bin/python server/pages/vendor/fetch_plotly.py          # fetch, verify, write
    .venv/bin/python server/pages/vendor/fetch_plotly.py --check  # fetch, verify, compare only

What is fetched is said in ``plotly-basic.toml``: the tarball at ``source`` must match its
``integrity`` (npm's sha512) before anything is written; then the bundle and the package's
LICENSE are written here and the bundle's sha256 goes into the manifest. ``--check`` writes
nothing and fails when the vendored files differ from the tarball's.

To move to another version (keep it the plotly.js the Python plotly package bundles:
``python -c "import plotly.offline as o; print(o.get_plotlyjs_version())"``), put the new
``version``, ``source`` and ``integrity`` in the manifest (``npm view
plotly.js-basic-dist-min@VERSION dist`` prints the last two), run this, then the tests.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
import sys
import tarfile
import tomllib
import urllib.request
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent
MANIFEST = VENDOR_DIR / "plotly-basic.toml"


def fetch(url: str) -> bytes:
    """The tarball's bytes (https only: it is code the pages will run)."""
    if not url.startswith("https://"):
        raise SystemExit(f"refusing a source that is not https: {url}")
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - https checked above
        tarball: bytes = answer.read()
    return tarball


def verify(tarball: bytes, integrity: str) -> None:
    """Stop unless the tarball has the recorded Subresource Integrity (``sha512-<base64>``)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise SystemExit(f"unexpected integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if actual != expected:
        raise SystemExit(f"integrity mismatch: the tarball is sha512-{actual}, not {integrity}")


def package_files(tarball: bytes, names: list[str]) -> dict[str, bytes]:
    """The named files of the npm package (read from the archive, never extracted to disk)."""
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for name in names:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise SystemExit(f"package/{name} is not a file in the tarball")
            found[name] = member.read()
    return found


def main() -> None:
    """Fetch, verify, and write (or with ``--check`` compare) the vendored bundle."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = parser.parse_args()
    manifest = tomllib.loads(MANIFEST.read_text())
    tarball = fetch(manifest["source"])
    verify(tarball, manifest["integrity"])
    bundle_name = manifest["file"]
    contents = package_files(tarball, [bundle_name, "LICENSE"])
    if f" v{manifest['version']}\n" not in contents[bundle_name][:200].decode():
        raise SystemExit(f"{bundle_name} does not say it is version {manifest['version']}")
    digest = hashlib.sha256(contents[bundle_name]).hexdigest()
    if args.check:
        stale = [
            name for name, body in contents.items() if (VENDOR_DIR / name).read_bytes() != body
        ]
        if stale or manifest["sha256"] != digest:
            raise SystemExit(f"vendored files differ from the tarball: {stale or ['sha256']}")
        sys.stdout.write(f"{manifest['package']} {manifest['version']}: files match ({digest})\n")
        return
    for name, body in contents.items():
        (VENDOR_DIR / name).write_bytes(body)
    MANIFEST.write_text(
        re.sub(r'^sha256 = "[0-9a-f]*"', f'sha256 = "{digest}"', MANIFEST.read_text(), flags=re.M)
    )
    sys.stdout.write(f"{manifest['package']} {manifest['version']} written ({digest})\n")


if __name__ == "__main__":
    main()
