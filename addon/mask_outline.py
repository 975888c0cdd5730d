# SPDX-License-Identifier: GPL-3.0-or-later
"""Blender Mask splines as outlines in footage pixels (no bpy: the operator reads the splines, this maps them).

Mask coordinates, as Blender's compositor rasterises them (measured in bpy 5.0.1): the frame's longer side S
spans 1.0, centred on (0.5, 0.5), y up; so pixel x = (u - 0.5) * S + W / 2, and the row from the top
y = H - ((v - 0.5) * S + H / 2).
"""

from __future__ import annotations

STEPS = 8
"""Points sampled along each Bezier segment."""

Point = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
"""A spline point in mask coordinates: (co, handle_left, handle_right)."""


def to_pixels(u: float, v: float, size: tuple[int, int]) -> tuple[float, float]:
    """Mask coordinates (u, v) -> pixel (x right, y down from the top row) in a frame of `size` (width, height)."""
    w, h = size
    s = max(w, h)
    return (u - 0.5) * s + w / 2, h - ((v - 0.5) * s + h / 2)


def outline(points: list[Point], cyclic: bool, size: tuple[int, int], steps: int = STEPS) -> list[list[float]]:
    """The spline through `points` as a polyline of [x, y] pixels of a frame of `size` (width, height): each
    segment the cubic Bezier from a point through its right handle and the next point's left handle to it, sampled
    at `steps` points (a vector handle on the point gives a straight side); the closing segment when `cyclic`."""
    pairs = list(zip(points, points[1:] + points[:1])) if cyclic else list(zip(points, points[1:]))
    out = []
    for (p0, _, c0), (p1, c1, _) in pairs:
        for k in range(steps):
            t = k / steps
            a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3
            u = a * p0[0] + b * c0[0] + c * c1[0] + d * p1[0]
            v = a * p0[1] + b * c0[1] + c * c1[1] + d * p1[1]
            out.append(list(to_pixels(u, v, size)))
    if not cyclic and points:
        out.append(list(to_pixels(*points[-1][0], size)))
    return out
