"""A small PNG plot of one series for notifiers, readable on its own: title, value and time axes, threshold, firing.

Pure Python (zlib for the PNG) with a bitmap font, so a Pi needs nothing else.
"""

from __future__ import annotations

import math
import struct
import time
import zlib
from collections.abc import Sequence

from labmon_collector.alerting import pngfont

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 64, WIDTH - 10, 20, HEIGHT - 34
"""The plot area; the title sits above it, the value ticks left of it, the times and their zone below it."""
PALETTE = bytes.fromhex("ffffff9e9e9e1976d2d32f2f212121ececf0fde2e2")
"""Pixel values: 0 white, 1 grey (frame), 2 blue (series), 3 red (threshold, firing), 4 text, 5 grid, 6 shade."""
WHITE, GREY, BLUE, RED, TEXT, GRID, SHADE = range(7)
SI_UNITS = frozenset({"V", "A", "s", "Hz", "W", "Ω", "ohm", "m", "Pa", "F", "H", "T", "J", "N", "C", "S", "K", "g"})
PREFIXES = (
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "µ"),
    (1e-9, "n"),
    (1e-12, "p"),
)
TIME_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def render(
    points: Sequence[tuple[float, float | None]],
    since: float,
    until: float,
    threshold: float | None,
    *,
    title: str = "",
    unit: str = "",
    firing: tuple[float, float] | None = None,
) -> bytes:
    """Return a PNG of `points` (time, value or None for a gap) from `since` to `until`.

    A dashed line marks `threshold`; `firing` (when the condition began, when the rule fired) is shaded
    from its start and marked by a line at its firing time.
    """
    canvas = Canvas()
    values = [v for _, v in points if v is not None] + ([threshold] if threshold is not None else [])
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    low, high = low - pad, high + pad

    def x(t: float) -> int:
        return LEFT + round((t - since) / (until - since) * (RIGHT - LEFT))

    def y(v: float) -> int:
        return BOTTOM - round((v - low) / (high - low) * (BOTTOM - TOP))

    if firing is not None:
        canvas.fill(max(LEFT, x(firing[0])), TOP, RIGHT, BOTTOM, SHADE)
    ticks = _value_ticks(low, high)
    magnitude = max(abs(v) for v in ticks) if ticks else 1.0
    for value in ticks:
        canvas.fill(LEFT, y(value), RIGHT, y(value), GRID)
        label = _si(value, unit, magnitude)
        canvas.text(LEFT - 4 - pngfont.WIDTH * len(label), y(value) - 6, label)
    for t in _time_ticks(since, until):
        canvas.fill(x(t), TOP, x(t), BOTTOM, GRID)
        canvas.fill(x(t), BOTTOM, x(t), BOTTOM + 3, GREY)
        label = time.strftime("%H:%M", time.localtime(t))
        canvas.text(x(t) - pngfont.WIDTH * len(label) // 2, BOTTOM + 4, label)
    canvas.frame(LEFT, TOP, RIGHT, BOTTOM)
    if threshold is not None:
        row = y(threshold)
        for col in range(LEFT, RIGHT):
            if col % 8 < 5:
                canvas.put(col, row, RED)
    previous: tuple[int, int] | None = None
    for t, v in points:
        if v is None or not since <= t <= until:
            previous = None  # an error reading or a gap is a break in the line, never a zero
            continue
        here = (x(t), y(v))
        canvas.line(previous or here, here)
        previous = here
    caption = f"local time ({time.strftime('%Z %z', time.localtime(until))})"
    if firing is not None:
        canvas.fill(x(firing[1]), TOP, x(firing[1]), BOTTOM, RED)
        caption += f"; shaded: condition held, red line: fired {time.strftime('%H:%M:%S', time.localtime(firing[1]))}"
    canvas.text(LEFT, HEIGHT - 15, caption)
    canvas.text(4, 3, title)
    return canvas.png()


class Canvas:
    """Palette pixels, row by row, with the few drawing operations the plot needs."""

    def __init__(self) -> None:
        self.pixels = bytearray(WIDTH * HEIGHT)

    def put(self, col: int, row: int, colour: int) -> None:
        """Set one pixel, if it is on the canvas."""
        if 0 <= col < WIDTH and 0 <= row < HEIGHT:
            self.pixels[row * WIDTH + col] = colour

    def fill(self, left: int, top: int, right: int, bottom: int, colour: int) -> None:
        """Fill a rectangle, its edges included."""
        left, right = max(0, left), min(WIDTH - 1, right)
        if right < left:
            return
        run = bytes([colour]) * (right - left + 1)
        for row in range(max(0, top), min(HEIGHT - 1, bottom) + 1):
            self.pixels[row * WIDTH + left : row * WIDTH + right + 1] = run

    def frame(self, left: int, top: int, right: int, bottom: int) -> None:
        """Draw the plot area's frame."""
        for edge in ((left, top, right, top), (left, bottom, right, bottom), (left, top, left, bottom)):
            self.fill(*edge, GREY)
        self.fill(right, top, right, bottom, GREY)

    def text(self, left: int, top: int, text: str) -> None:
        """Write `text` in the bitmap font, cut at the canvas's edge; a character it lacks is a "?"."""
        for i, ch in enumerate(text[: max(0, (WIDTH - left) // pngfont.WIDTH)]):
            glyph = pngfont.GLYPHS.get(ch, pngfont.GLYPHS["?"])
            for row, bits in enumerate(glyph):
                for col in range(pngfont.WIDTH):
                    if bits & (1 << (pngfont.WIDTH - 1 - col)):
                        self.put(left + i * pngfont.WIDTH + col, top + row, TEXT)

    def line(self, start: tuple[int, int], end: tuple[int, int]) -> None:
        """Draw a two-pixel-thick line (Bresenham)."""
        (x0, y0), (x1, y1) = start, end
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        error = dx + dy
        while True:
            self.put(x0, y0, BLUE)
            self.put(x0, y0 + 1, BLUE)
            if (x0, y0) == (x1, y1):
                return
            double = 2 * error
            if double >= dy:
                error, x0 = error + dy, x0 + sx
            if double <= dx:
                error, y0 = error + dx, y0 + sy

    def png(self) -> bytes:
        """Return the canvas as a PNG file."""
        rows = b"".join(b"\x00" + bytes(self.pixels[r * WIDTH : (r + 1) * WIDTH]) for r in range(HEIGHT))

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


def _value_ticks(low: float, high: float) -> list[float]:
    """Return round values (1, 2 or 5 times a power of ten apart) between `low` and `high`, four to ten of them."""
    raw = (high - low) / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step)
    return [round(i * step, 12) for i in range(first, math.floor(high / step) + 1)]


def _time_ticks(since: float, until: float) -> list[float]:
    """Return round local times (every minute, 5 min, hour...) between `since` and `until`, at most seven."""
    step = next((s for s in TIME_STEPS if (until - since) / s <= 7), TIME_STEPS[-1])
    offset = time.localtime(since).tm_gmtoff
    first = math.ceil((since + offset) / step) * step - offset
    return [t for t in range(int(first), int(until) + 1, step)]


def _si(value: float, unit: str, magnitude: float) -> str:
    """Return `value` with the SI prefix that suits `magnitude` (the axis's largest value), e.g. "500 mV"."""
    if unit not in SI_UNITS:
        number = f"{value:.3g}" if value == 0 or 1e-3 <= abs(magnitude) < 1e5 else f"{value:.2e}"
        return f"{number} {unit}".strip()
    size, prefix = next(((s, p) for s, p in PREFIXES if magnitude >= s * 0.9995), PREFIXES[-1])
    return f"{value / size:.4g} {prefix}{unit}"
