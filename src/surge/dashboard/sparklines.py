"""The links list's sparklines: a link's clicks per day as a small inline SVG, drawn here.

Inline in the page, so a page of 25 links costs no request per picture; coloured by classes
of app.css (the dashboard's CSP allows no style attribute), and named in words for screen
readers."""

from __future__ import annotations

from datetime import date, timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 112, 28, 2


def sparkline(clicks: list[int], first: date) -> Markup:
    """Clicks per day from `first`, the highest day at the top (a day without clicks at the
    bottom), as an <svg> element."""
    top = max(clicks, default=0)
    step = (WIDTH - 2 * PAD) / max(1, len(clicks) - 1)
    points = [
        (PAD + i * step, HEIGHT - PAD - (n / top if top else 0) * (HEIGHT - 2 * PAD))
        for i, n in enumerate(clicks)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    last = first + timedelta(days=len(clicks) - 1)
    said = (
        f"{sum(clicks)} clicks from {first:%b %d} to {last:%b %d}, at most {top} a day"
        if top
        else f"No clicks from {first:%b %d} to {last:%b %d}"
    )
    area = f"{PAD},{HEIGHT - PAD} {line} {points[-1][0]:.1f},{HEIGHT - PAD}" if points else ""
    return Markup(
        f'<svg class="spark" role="img" aria-label="{escape(said)}" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(said)}</title>"
        f'<polygon class="spark-area" points="{area}"/>'
        f'<polyline class="spark-line" points="{line}"/></svg>'
    )
