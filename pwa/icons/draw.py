"""Draws the app icons (PNG) without dependencies: ``python pwa/icons/draw.py``.

A white check mark in a rounded square of the theme colour; the maskable icon keeps the mark inside
the central safe zone (80 %) and fills the whole square, as maskable icons must.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

THEME = (0x0B, 0x5C, 0x6B)  # the manifest's theme colour
WHITE = (0xFF, 0xFF, 0xFF)
HERE = Path(__file__).parent


def _distance_to_segment(
    px: float, py: float, a: tuple[float, float], b: tuple[float, float]
) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return float(((px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2) ** 0.5)


def draw(size: int, *, maskable: bool) -> bytes:
    """RGBA pixels of one icon."""
    scale = 0.62 if maskable else 0.8  # the mark's extent, as a share of the icon
    radius = 0 if maskable else size * 0.18
    stroke = size * 0.075 * scale / 0.8
    points = [(0.28, 0.52), (0.44, 0.68), (0.74, 0.36)]
    mark = [
        (size * (0.5 + (x - 0.5) * scale / 0.8), size * (0.5 + (y - 0.5) * scale / 0.8))
        for x, y in points
    ]
    rows = []
    for y in range(size):
        row = bytearray([0])  # PNG filter: none
        for x in range(size):
            cx = min(max(x + 0.5, radius), size - radius)
            cy = min(max(y + 0.5, radius), size - radius)
            inside = ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2) ** 0.5 <= radius or radius == 0
            if not inside:
                row += bytes(4)
                continue
            near = min(_distance_to_segment(x + 0.5, y + 0.5, mark[i], mark[i + 1]) for i in (0, 1))
            row += bytes((*(WHITE if near <= stroke else THEME), 255))
        rows.append(bytes(row))
    return b"".join(rows)


def png(size: int, pixels: bytes) -> bytes:
    """A PNG file of RGBA pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels, 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    for size, maskable, name in (
        (192, False, "icon-192.png"),
        (512, False, "icon-512.png"),
        (512, True, "icon-maskable-512.png"),
        (180, True, "apple-touch-icon.png"),
    ):
        (HERE / name).write_bytes(png(size, draw(size, maskable=maskable)))
        print(name)  # noqa: T201 - a tool that says what it wrote
