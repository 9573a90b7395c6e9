"""Make `src/surge/dashboard/world_countries.json`, the countries the dashboard's world map draws.

The geometry is Natural Earth's Admin 0 countries (public domain), as the `world-atlas` npm
package (ISC) redistributes it in TopoJSON; projected here once (Equal Earth), drawn on a
1000-unit-wide canvas rounded to whole units, Antarctica left out, so the dashboard only
joins strings. Made with:

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    uv run --with iso3166 python tools/world_map_geometry.py package/countries-50m.json

(`iso3166` maps the ISO 3166-1 numeric codes of the file to the alpha-2 codes clicks carry.)
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import iso3166

OUT = Path(__file__).parent.parent / "src/surge/dashboard/world_countries.json"
WIDTH = 1000
# How far a simplified border may stray from Natural Earth's: about half a canvas unit.
TOLERANCE_DEGREES = 0.5 * 360 / WIDTH
SMALL = 5  # a country less wide and less high than this is drawn as a dot too
# Natural Earth's features without an ISO numeric code, by the alpha-2 code GeoIP databases and
# edges send for them (N. Cyprus and Somaliland are drawn as parts of CY and SO), or None: no
# country of their own (Australia's Indian Ocean islands, the Siachen Glacier).
WITHOUT_NUMERIC = {
    "Kosovo": "XK",
    "N. Cyprus": "CY",
    "Somaliland": "SO",
    "Indian Ocean Ter.": None,
    "Siachen Glacier": None,
}
LEFT_OUT = {"010"}  # Antarctica: no clicks, a fifth of the picture

# Equal Earth (Šavrič, Patterson, Jenny 2018): areas true, shapes close to the familiar ones.
A1, A2, A3, A4 = 1.340264, -0.081106, 0.000893, 0.003796
M = math.sqrt(3) / 2


def equal_earth(lon: float, lat: float) -> tuple[float, float]:
    theta = math.asin(M * math.sin(math.radians(lat)))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = (
        2
        * math.sqrt(3)
        * math.radians(lon)
        * math.cos(theta)
        / (3 * (9 * A4 * t6 * t2 + 7 * A3 * t6 + 3 * A2 * t2 + A1))
    )
    y = theta * (A4 * t6 * t2 + A3 * t6 + A2 * t2 + A1)
    return x, y


X_MAX = equal_earth(180, 0)[0]
Y_MAX = equal_earth(0, 90)[1]
Y_MIN = equal_earth(0, -60)[1]  # the southern tip of South America, with Antarctica left out
SCALE = WIDTH / (2 * X_MAX)
HEIGHT = round((Y_MAX - Y_MIN) * SCALE)
Point = tuple[float, float]  # longitude, latitude; or x, y on the canvas
Drawn = list[tuple[int, int]]


def canvas(lon: float, lat: float) -> tuple[int, int]:
    x, y = equal_earth(lon, lat)
    return round((x + X_MAX) * SCALE), round((Y_MAX - y) * SCALE)


def simplified(points: list[Point], tolerance: float) -> list[Point]:
    """Ramer-Douglas-Peucker: the points that stray more than `tolerance` from the line."""
    if len(points) < 3:
        return points
    (ax, ay), (bx, by) = points[0], points[-1]
    length = math.hypot(bx - ax, by - ay)
    farthest, index = 0.0, 0
    for i in range(1, len(points) - 1):
        px, py = points[i]
        if length:
            distance = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length
        else:
            distance = math.hypot(px - ax, py - ay)
        if distance > farthest:
            farthest, index = distance, i
    if farthest <= tolerance:
        return [points[0], points[-1]]
    return simplified(points[: index + 1], tolerance)[:-1] + simplified(points[index:], tolerance)


def arcs_of(topology: dict[str, Any], tolerance: float) -> list[list[Point]]:
    """Every arc in degrees, simplified. Arcs are the borders countries share: simplifying them,
    not each country's outline, keeps neighbours' borders one line (no gaps)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(simplified(points, tolerance) if tolerance else points)
    return arcs


def clipped(
    points: list[Point], keep_west_of: float | None, keep_east_of: float | None
) -> list[Point]:
    """Sutherland-Hodgman against one meridian: the part of a ring on one side of it."""

    def inside(lon: float) -> bool:
        return lon <= keep_west_of if keep_west_of is not None else lon >= keep_east_of  # type: ignore[operator]

    edge = keep_west_of if keep_west_of is not None else keep_east_of
    assert edge is not None
    kept: list[Point] = []
    for i, (lon, lat) in enumerate(points):
        plon, plat = points[i - 1]
        if inside(lon) != inside(plon):
            t = (edge - plon) / (lon - plon)
            kept.append((edge, plat + t * (lat - plat)))
        if inside(lon):
            kept.append((lon, lat))
    return kept


def antimeridian_pieces(points: list[Point]) -> list[list[Point]]:
    """A ring that crosses 180° (Russia's Chukotka, Fiji, the Aleutians) as the pieces on each
    side of it: its longitudes made continuous, then cut there."""
    continuous = [points[0]]
    for lon, lat in points[1:]:
        previous = continuous[-1][0]
        while lon - previous > 180:
            lon -= 360
        while previous - lon > 180:
            lon += 360
        continuous.append((lon, lat))
    lons = [lon for lon, _ in continuous]
    if max(lons) > 180:
        east = clipped(continuous, 180, None)
        west = clipped([(lon - 360, lat) for lon, lat in continuous], None, -180)
        return [piece for piece in (east, west) if piece]
    if min(lons) < -180:
        west = clipped(continuous, None, -180)
        east = clipped([(lon + 360, lat) for lon, lat in continuous], 180, None)
        return [piece for piece in (west, east) if piece]
    return [continuous]


def rings(arcs: list[list[Point]], indexes: list[int]) -> list[Drawn]:
    points: list[Point] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc[1:] if points else arc)
    drawn = []
    for piece in antimeridian_pieces(points):
        on_canvas: Drawn = []
        for lon, lat in piece:
            point = canvas(lon, lat)
            if not on_canvas or point != on_canvas[-1]:
                on_canvas.append(point)
        drawn.append(on_canvas)
    return drawn


def path(drawn: list[Drawn]) -> str:
    """One absolute move, then relative moves and lines: half the characters of absolute ones."""
    parts = []
    x = y = 0
    for points in drawn:
        if len(points) < 3:
            continue  # a speck at this scale
        (first_x, first_y), rest = points[0], points[1:]
        parts.append(f"m{first_x - x} {first_y - y}" if parts else f"M{first_x} {first_y}")
        x, y = first_x, first_y
        steps = []
        for px, py in rest:
            steps.append(f"{px - x} {py - y}")
            x, y = px, py
        parts.append("l" + " ".join(steps).replace(" -", "-") + "z")
        x, y = first_x, first_y  # z returns to the ring's start
    return "".join(parts).replace(" -", "-")


def box(points: Drawn) -> tuple[int, int, int, int]:
    xs, ys = [x for x, _ in points], [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


def country_code(feature: dict[str, Any]) -> str | None:
    numeric, name = feature.get("id"), feature["properties"]["name"]
    if numeric in LEFT_OUT or feature["type"] not in ("Polygon", "MultiPolygon"):
        return None
    if numeric is None:
        return WITHOUT_NUMERIC[name]
    return str(iso3166.countries_by_numeric[numeric].alpha2)


def sphere() -> str:
    """The map's edge: the meridians ±180° between 60°S and the poles, as the background."""
    east = [canvas(180, lat) for lat in range(-60, 91, 5)]
    west = [canvas(-180, lat) for lat in range(90, -61, -5)]
    return path([east + west])


def main(source: Path) -> None:
    topology = json.loads(source.read_text())
    exact, simple = arcs_of(topology, 0.0), arcs_of(topology, TOLERANCE_DEGREES)
    names: dict[str, str] = {}
    shapes: dict[str, list[Drawn]] = {}
    outlines: dict[str, list[Drawn]] = {}
    for feature in topology["objects"]["countries"]["geometries"]:
        code = country_code(feature)
        if code is None:
            continue
        names.setdefault(code, feature["properties"]["name"])
        polygons = feature["arcs"] if feature["type"] == "MultiPolygon" else [feature["arcs"]]
        for polygon in polygons:
            for indexes in polygon:
                shapes.setdefault(code, []).extend(rings(simple, indexes))
            outlines.setdefault(code, []).extend(rings(exact, polygon[0]))
    countries: dict[str, dict[str, Any]] = {}
    for code in sorted(names):
        entry: dict[str, Any] = {"name": names[code], "d": path(shapes[code])}
        boxes = [box(outline) for outline in outlines[code] if outline]
        left, top, right, bottom = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        if not entry["d"] or max(right - left, bottom - top) < SMALL:
            # Too small to see: the map marks it with a dot where it is, when it has clicks.
            entry["dot"] = [round((left + right) / 2), round((top + bottom) / 2)]
        countries[code] = entry
    OUT.write_text(
        json.dumps(
            {
                "source": "Natural Earth 1:50m Admin 0 countries (public domain), via world-atlas "
                "2.0.2; Equal Earth projection; made by tools/world_map_geometry.py",
                "width": WIDTH,
                "height": HEIGHT,
                "sphere": sphere(),
                "countries": countries,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        + "\n"
    )
    dots = sum("dot" in c for c in countries.values())
    print(f"{OUT}: {len(countries)} countries ({dots} as dots), {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
