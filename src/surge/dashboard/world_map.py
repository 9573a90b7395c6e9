"""The link page's world map: countries shaded by their clicks, an SVG drawn on the server.

The countries are Natural Earth's 1:50m Admin 0 boundaries (public domain), projected once
(Equal Earth) and simplified into `world_countries.json` by tools/world_map_geometry.py (57 kB;
drawing it costs string joins). Countries too small to see at this scale (Singapore, Malta,
Bahrain...) are marked with a dot when they have clicks.
"""

from __future__ import annotations

import json
import math
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

from surge.data.contracts import LinkStats

# Light to dark blue (the chart's is #2563eb), each clear of the grey of a country without clicks.
SHADES = ("#93c5fd", "#60a5fa", "#3b82f6", "#1d4ed8", "#1e3a8a")
NO_CLICKS = "#dde2e8"
OCEAN = "#f3f6fa"
LEGEND_HEIGHT = 44
FONT = 'font-family="system-ui, sans-serif" font-size="14" fill="#1f2933"'


@cache
def _geometry() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        (files("surge.dashboard") / "world_countries.json").read_text(encoding="utf-8")
    )
    return found


def _shade(clicks: int, most: int) -> str:
    """On a log scale, so one country with most of the clicks leaves the others visible."""
    if most <= 1:
        return SHADES[-1]
    level = math.log(clicks) / math.log(most)  # 0 for one click, 1 for the most
    return SHADES[min(len(SHADES) - 1, int(level * len(SHADES)))]


def _plural(clicks: int) -> str:
    return f"{clicks:,} click{'s' if clicks != 1 else ''}"


def world_map(stats: LinkStats) -> bytes:
    """The countries `stats` lists on a world map, as an SVG document."""
    geometry = _geometry()
    width, height = geometry["width"], geometry["height"]
    counts = {b.value: b.clicks for b in stats.countries if b.value in geometry["countries"]}
    most = max(counts.values(), default=0)
    shapes, dots = [], []
    for code, country in geometry["countries"].items():
        clicks = counts.get(code, 0)
        fill = _shade(clicks, most) if clicks else NO_CLICKS
        title = f"<title>{escape(country['name'])}: {_plural(clicks)}</title>"
        if country["d"]:
            shapes.append(f'<path d="{country["d"]}" fill="{fill}">{title}</path>')
        if clicks and "dot" in country:
            x, y = country["dot"]
            dots.append(f'<circle cx="{x}" cy="{y}" r="5" fill="{fill}">{title}</circle>')
    elsewhere = sum(b.clicks for b in stats.countries if b.value not in geometry["countries"])
    total = height + LEGEND_HEIGHT
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {total}" '
            f'width="{width}" height="{total}" role="img">',
            f"<title>Clicks by country, {stats.from_:%Y-%m-%d} to {stats.to:%Y-%m-%d}</title>",
            f'<rect width="{width}" height="{total}" fill="#fff"/>',
            f'<path d="{geometry["sphere"]}" fill="{OCEAN}"/>',
            '<g stroke="#fff" stroke-width="0.6" stroke-linejoin="round">',
            *shapes,
            "</g>",
            '<g stroke="#1f2933" stroke-width="1">',
            *dots,
            "</g>",
            _legend(height, most, elsewhere),
            "</svg>",
        ]
    ).encode()


def _legend(top: int, most: int, elsewhere: int) -> str:
    """The scale below the map, and the clicks no country on it holds (not located, Tor...)."""
    y = top + 14
    parts = [f'<g {FONT}><text x="12" y="{y + 13}">Clicks</text>']
    if most:
        parts.append(f'<text x="72" y="{y + 13}">1</text>')
        for i, shade in enumerate(SHADES):
            parts.append(f'<rect x="{86 + 28 * i}" y="{y}" width="28" height="16" fill="{shade}"/>')
        parts.append(f'<text x="{92 + 28 * len(SHADES)}" y="{y + 13}">{most:,}</text>')
    else:
        parts.append(f'<text x="72" y="{y + 13}">none in this range</text>')
    if elsewhere:
        parts.append(
            f'<text x="988" y="{y + 13}" text-anchor="end">'
            f"{_plural(elsewhere)} from no country on the map (not located)</text>"
        )
    parts.append("</g>")
    return "".join(parts)
