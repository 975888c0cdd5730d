"""Continuous-label Markov random field blending of two images across a seam, solved as one sparse system.

Every free pixel p of the band gets a label a_p in [0, 1], the share of `i1` (l1 = a, l0 = 1 - a), and the
result is (1 - a) * i0 + a * i1. The energy is

    E(a) = sum_p lambda_p (a_p - side_p)^2  +  sum_{p~q} |a_p - a_q|^2 * (|dbar_pq|^2 / s + eps)

- unary: pulls each pixel toward the side of the seam it lies on (`side_p` = 1 on i1's side), more firmly the
  farther it is from the seam (lambda_p = unary * distance / half band), so the blend stays near the seam;
- pairwise: the contrast between neighbours that their labels create (the continuous form of Castillo et
  al.'s pairwise cost). With d = i1 - i0, the output difference across a neighbour pair p~q is exactly
  (1 - abar) * (i0_p - i0_q) + abar * (i1_p - i1_q), which the sources already have (abar is the pair's mean
  label), plus (a_p - a_q) * dbar_pq with dbar_pq = (d_p + d_q) / 2: that second part is what the labels
  create, and its square is the cost. With binary labels a cut between p and q costs |dbar_pq|^2, the two
  images' mismatch there, as in graph-cut seam finding. `s` is the mean |dbar|^2 over the band's pairs, so
  `unary` means the same whatever the styles' contrast with the footage.

Both terms are quadratic and the pairwise weights are non-negative, so the minimiser solves a symmetric
positive definite M-matrix system (a weighted graph Laplacian plus a diagonal): labels stay in [0, 1] by the
maximum principle, pixels outside the band keep their side exactly (they are not unknowns), and the
transition moves to where the two images agree and widens where they differ. The energy is convex, so no
graph cut (binary labels, then refinement) is needed: its exact minimiser is one sparse linear solve over
the band's pixels only, done by conjugate gradients with a Jacobi preconditioner started from the linear
feather ramp (15-55 iterations on vtest.avi frames, bands of 6 to 24 pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

EPS = 1e-3  # pairwise weight (relative to the mean) where the images agree: a cut there costs next to nothing
REGULARISER = 1e-4  # added to every node's diagonal: positive definite even with no unary and no fixed neighbour
TOLERANCE = 1e-4  # relative residual at which conjugate gradients stop
MAX_ITERATIONS = 400


@dataclass(frozen=True)
class BandGraph:
    """The free pixels of an hxw window and the 4-neighbour edges touching them.

    `nodes`: int64 (N,) flat indices of the free pixels. Each edge e joins free node `p[e]` (an index into
    `nodes`) and pixel `q_pixel[e]` (flat index), which is free node `q_node[e]` or fixed (`q_node[e]` = -1).
    An edge between two free pixels appears once.
    """

    shape: tuple[int, int]
    nodes: np.ndarray
    p: np.ndarray
    q_pixel: np.ndarray
    q_node: np.ndarray

    @property
    def size(self) -> int:
        return len(self.nodes)

    def take(self, image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """The values of an hxw or hxwxC `image` (any strides) at flat pixel indices `pixels`."""
        return image[np.divmod(pixels, self.shape[1])]

    def laplacian(self, weights: np.ndarray, diagonal: np.ndarray) -> sparse.csr_matrix:
        """N x N: the graph Laplacian of the edges with `weights` (E,), rows of free nodes only (edges to fixed
        pixels add to the diagonal), plus `diagonal` (N,)."""
        n = self.size
        both = self.q_node >= 0
        diag = diagonal + np.bincount(self.p, weights, n) + np.bincount(self.q_node[both], weights[both], n)
        rows = np.concatenate([np.arange(n), self.p[both], self.q_node[both]])
        cols = np.concatenate([np.arange(n), self.q_node[both], self.p[both]])
        data = np.concatenate([diag, -weights[both], -weights[both]])
        return sparse.csr_matrix((data, (rows, cols)), shape=(n, n))

    def from_fixed(self, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
        """(N, ...) sum over each node's edges to fixed pixels of weight * value; `values` (E, ...) per edge."""
        fixed = self.q_node < 0
        weighted = weights[fixed, None] * values[fixed].reshape(int(fixed.sum()), -1)
        out = np.stack([np.bincount(self.p[fixed], column, self.size) for column in weighted.T], axis=1)
        return out.reshape(self.size, *values.shape[1:])


def band_graph(free: np.ndarray) -> BandGraph:
    """The BandGraph of a bool hxw mask of free pixels."""
    h, w = free.shape
    nodes = np.flatnonzero(free)
    ys, xs = np.divmod(nodes, w)
    ps, qs, qn = [], [], []
    for dy, dx, forward in ((0, 1, True), (1, 0, True), (0, -1, False), (-1, 0, False)):
        ok = np.nonzero((ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w))[0]
        q_pixel = nodes[ok] + (dy * w + dx)
        found = np.minimum(np.searchsorted(nodes, q_pixel), len(nodes) - 1)
        q_node = np.where(nodes[found] == q_pixel, found, -1)
        keep = np.ones(len(ok), bool) if forward else q_node < 0
        ps.append(ok[keep])
        qs.append(q_pixel[keep])
        qn.append(q_node[keep])
    return BandGraph((h, w), nodes, np.concatenate(ps), np.concatenate(qs), np.concatenate(qn))


def solve(matrix: sparse.csr_matrix, rhs: np.ndarray, start: np.ndarray) -> np.ndarray:
    """x with matrix @ x = rhs for a symmetric positive definite `matrix`, by Jacobi-preconditioned conjugate
    gradients on every column of rhs at once; rhs, start: float64 (N,) or (N, C); stops at a relative residual
    of TOLERANCE.

    Written out rather than scipy's `cg` because that calls BLAS dot products, which OpenBLAS spreads over
    threads above ~10k elements; on a busy 2-core machine the hand-offs made a 40-iteration solve take 1.5 s
    instead of 7 ms. Element-wise products and sums here stay on the calling thread.
    """
    b = rhs.reshape(len(rhs), -1)
    x = start.reshape(len(start), -1).copy()
    inverse_diagonal = (1.0 / matrix.diagonal())[:, None]
    r = b - matrix @ x
    z = inverse_diagonal * r
    d = z.copy()
    rz = np.einsum("ij,ij->j", r, z)
    stop = (TOLERANCE * np.sqrt(np.einsum("ij,ij->j", b, b))) ** 2
    for _ in range(MAX_ITERATIONS):
        if np.all(np.einsum("ij,ij->j", r, r) <= stop):
            break
        ad = matrix @ d
        step = rz / np.maximum(np.einsum("ij,ij->j", d, ad), 1e-300)
        x += step * d
        r -= step * ad
        z = inverse_diagonal * r
        rz_next = np.einsum("ij,ij->j", r, z)
        d = z + (rz_next / np.maximum(rz, 1e-300)) * d
        rz = rz_next
    return x.reshape(rhs.shape)


def mrf_labels(i0: np.ndarray, i1: np.ndarray, signed: np.ndarray, half: float, unary: float) -> np.ndarray:
    """Labels (the share of `i1`) minimising the energy in the module docstring.

    i0, i1: float32 hxwx3 sRGB in [0, 1]. signed: float32 hxw signed distance from the seam in pixels,
    positive on i1's side (the pixels next to the seam are +-0.5). Pixels with |signed| < half are free;
    the others keep their side (exactly 0 or 1). unary >= 0: weight of the unary cost. Returns float32 hxw
    in [0, 1].
    """
    labels = (signed > 0).astype(np.float32)
    graph = band_graph(np.abs(signed) < half)
    if graph.size == 0:
        return labels
    p_pixel, q_pixel = graph.nodes[graph.p], graph.q_pixel
    d_p = graph.take(i1, p_pixel) - graph.take(i0, p_pixel)
    d_q = graph.take(i1, q_pixel) - graph.take(i0, q_pixel)
    contrast = np.sum((0.5 * (d_p + d_q)) ** 2, axis=1, dtype=np.float64)
    weights = contrast / max(float(contrast.mean()), 1e-6) + EPS
    node_signed = graph.take(signed, graph.nodes).astype(np.float64)
    pull = unary * np.abs(node_signed) / half + REGULARISER
    matrix = graph.laplacian(weights, pull)
    rhs = pull * (node_signed > 0) + graph.from_fixed(weights, (graph.take(signed, q_pixel) > 0).astype(np.float64))
    start = np.clip(0.5 + 0.5 * node_signed / half, 0.0, 1.0)
    labels[np.divmod(graph.nodes, graph.shape[1])] = np.clip(solve(matrix, rhs, start), 0.0, 1.0)
    return labels
