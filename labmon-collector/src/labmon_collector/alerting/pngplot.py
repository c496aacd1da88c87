"""A small PNG line plot of one series and its threshold, in pure Python (zlib for the PNG), for notifiers."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

WIDTH, HEIGHT, MARGIN = 480, 160, 6
PALETTE = bytes.fromhex("ffffffd0d0d01976d2d32f2f")
"""Pixel values: 0 white, 1 grey (frame), 2 blue (the series), 3 red (the threshold)."""
WHITE, GREY, BLUE, RED = range(4)


def render(points: Sequence[tuple[float, float | None]], since: float, until: float, threshold: float | None) -> bytes:
    """Return a PNG of `points` (time, value or None for a gap) from `since` to `until`, with a dashed threshold."""
    pixels = bytearray(WIDTH * HEIGHT)
    values = [v for _, v in points if v is not None] + ([threshold] if threshold is not None else [])
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    low, high = low - pad, high + pad

    def x(t: float) -> int:
        return MARGIN + round((t - since) / (until - since) * (WIDTH - 1 - 2 * MARGIN))

    def y(v: float) -> int:
        return HEIGHT - 1 - MARGIN - round((v - low) / (high - low) * (HEIGHT - 1 - 2 * MARGIN))

    for col in range(WIDTH):
        pixels[col] = pixels[(HEIGHT - 1) * WIDTH + col] = GREY
    for row in range(HEIGHT):
        pixels[row * WIDTH] = pixels[row * WIDTH + WIDTH - 1] = GREY
    if threshold is not None:
        row = y(threshold)
        for col in range(MARGIN, WIDTH - MARGIN):
            if col % 8 < 5:
                pixels[row * WIDTH + col] = RED
    previous: tuple[int, int] | None = None
    for t, v in points:
        if v is None or not since <= t <= until:
            previous = None  # an error reading or a gap is a break in the line, never a zero
            continue
        here = (x(t), y(v))
        _line(pixels, previous or here, here)
        previous = here
    return _png(pixels)


def _line(pixels: bytearray, start: tuple[int, int], end: tuple[int, int]) -> None:
    """Draw a two-pixel-thick line (Bresenham)."""
    (x0, y0), (x1, y1) = start, end
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    error = dx + dy
    while True:
        for row in (y0, y0 + 1):
            if 0 <= row < HEIGHT and 0 <= x0 < WIDTH:
                pixels[row * WIDTH + x0] = BLUE
        if (x0, y0) == (x1, y1):
            return
        double = 2 * error
        if double >= dy:
            error, x0 = error + dy, x0 + sx
        if double <= dx:
            error, y0 = error + dx, y0 + sy


def _png(pixels: bytearray) -> bytes:
    """Return `pixels` (palette indices, row by row) as a PNG file."""
    rows = b"".join(b"\x00" + bytes(pixels[r * WIDTH : (r + 1) * WIDTH]) for r in range(HEIGHT))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 3, 0, 0, 0)  # 8-bit palette colour
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", PALETTE)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )
