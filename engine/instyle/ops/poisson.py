"""Poisson (gradient-domain) blending of two images inside the band around a seam.

The band's pixels are solved so that their differences to each 4-neighbour match a guidance field, with the
pixels just outside the band fixed to the naive paste (i0 on one side, i1 on the other), as in Perez et al.'s
Poisson image editing. The guidance is each side's own image difference, and across the seam the mean of the
two images' differences, so the colour step between the images is spread smoothly over the band while both
sides keep their texture. Fixing both band edges keeps everything outside the band exactly as it was, which
OpenCV's `seamlessClone` cannot: it fixes only the border of the mask's bounding box, so the colours of the
whole stylized region shift toward the background's, and it rounds that box to 8 bits.
"""

from __future__ import annotations

import numpy as np

from .mrf import REGULARISER, band_graph, solve


def poisson_band(i0: np.ndarray, i1: np.ndarray, signed: np.ndarray, half: float) -> np.ndarray:
    """The naive paste with the band |signed| < half re-solved from the guidance field.

    i0, i1: float32 hxwx3 sRGB in [0, 1]; signed: float32 hxw signed distance from the seam in pixels,
    positive on i1's side. Returns float32 hxwx3 in [0, 1]; outside the band it is, bit for bit, i1 where
    signed > 0 and i0 elsewhere.
    """
    side = signed > 0
    result = np.where(side[:, :, None], i1, i0)
    graph = band_graph(np.abs(signed) < half)
    if graph.size == 0:
        return result
    p_pixel, q_pixel = graph.nodes[graph.p], graph.q_pixel
    step0 = (graph.take(i0, p_pixel) - graph.take(i0, q_pixel)).astype(np.float64)
    step1 = (graph.take(i1, p_pixel) - graph.take(i1, q_pixel)).astype(np.float64)
    side_p, side_q = graph.take(side, p_pixel)[:, None], graph.take(side, q_pixel)[:, None]
    guidance = np.where(side_p == side_q, np.where(side_p, step1, step0), 0.5 * (step0 + step1))
    ones = np.ones(len(graph.p))
    matrix = graph.laplacian(ones, np.full(graph.size, REGULARISER))
    naive = graph.take(result, graph.nodes).astype(np.float64)
    both = graph.q_node >= 0
    rhs = np.stack([np.bincount(graph.p, guidance[:, c], graph.size)
                    - np.bincount(graph.q_node[both], guidance[both, c], graph.size) for c in range(3)], axis=1)
    rhs += graph.from_fixed(ones, graph.take(result, q_pixel).astype(np.float64)) + REGULARISER * naive
    ramp = np.clip(0.5 + 0.5 * graph.take(signed, graph.nodes) / half, 0.0, 1.0)[:, None]
    start = (1.0 - ramp) * graph.take(i0, graph.nodes) + ramp * graph.take(i1, graph.nodes)
    solved = solve(matrix, rhs, start.astype(np.float64))
    result[np.divmod(graph.nodes, graph.shape[1])] = np.clip(solved, 0.0, 1.0)
    return result
