"""The link page's chart: clicks over time as an SVG (pygal), drawn on the server, so the
dashboard needs no JavaScript charting library and no CDN."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pygal
from pygal.style import Style

from surge.data.contracts import CountPoint, Interval, LinkStats

# pygal adds an old-style import hook for its map plugins (not used here) that makes Python 3.11
# warn on every later import in the process: take it out again.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1f2933",
    foreground_strong="#1f2933",
    foreground_subtle="#9aa5b1",
    colors=("#2563eb",),
    font_family="system-ui, sans-serif",
)


def clicks_chart(stats: LinkStats, what: str = "Clicks") -> bytes:
    """Human clicks (or `what` else a series counts) per hour or day, zero-filled, as an SVG
    document."""
    return series_chart(stats.timeseries, stats.interval, what)


def series_chart(points: Sequence[CountPoint], interval: Interval, what: str = "Clicks") -> bytes:
    """Human clicks (one link's, or many links' summed; or `what` else a series counts) per
    hour or day, as an SVG document."""
    label = "%Y-%m-%d %H:00" if interval == "hour" else "%Y-%m-%d"
    chart = pygal.Bar(
        style=STYLE,
        width=900,
        height=320,
        show_legend=False,
        show_minor_x_labels=False,
        x_label_rotation=30,
        js=[],  # no tooltips script: pygal would load it from a CDN
        title=f"{what} per {interval}",
        print_values=False,
        include_x_axis=True,
        truncate_label=-1,
    )
    chart.x_labels = [p.ts.strftime(label) for p in points]
    chart.x_labels_major = chart.x_labels[:: max(1, len(points) // 8)]
    counts = [p.clicks for p in points]
    top = max(counts, default=0)
    step = max(1, -(-top // 6))  # about six whole-number gridlines: clicks are not fractions
    chart.y_labels = list(range(0, top + step + 1, step))
    chart.add("clicks", counts)
    svg: bytes = chart.render()
    return svg
