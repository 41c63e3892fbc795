"""P1 finite elements assembled with numpy/scipy, for the residual checks of nabla.solve."""

import numpy as np
import scipy.sparse as sp


def square_mesh(m: int, lshape: bool = False):
    """Nodes and triangles of the unit square cut into m x m cells, each split in two along
    alternating diagonals; with ``lshape`` the cells of the upper-right quadrant are removed."""
    xs = np.linspace(0.0, 1.0, m + 1)
    X, Y = np.meshgrid(xs, xs, indexing="xy")
    nodes = np.column_stack([X.ravel(), Y.ravel()])
    tris = []
    for j in range(m):
        for i in range(m):
            if lshape and i >= m // 2 and j >= m // 2:
                continue
            a, b = j * (m + 1) + i, j * (m + 1) + i + 1
            c, d = a + m + 1, b + m + 1
            if (i + j) % 2 == 0:
                tris += [(a, b, d), (a, d, c)]
            else:
                tris += [(a, b, c), (b, d, c)]
    tris = np.array(tris)
    used = np.unique(tris)
    renumber = -np.ones(len(nodes), dtype=np.int64)
    renumber[used] = np.arange(len(used))
    return nodes[used], renumber[tris]


def boundary_nodes(nodes, tris):
    """Nodes on edges that belong to one triangle only."""
    edges = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    return np.unique(uniq[counts == 1])


def p1_laplacian(nodes, tris, kappa=None):
    """The P1 stiffness matrix of −∇·(κ∇u) (κ per triangle) and the load vector of f = 1, with
    the homogeneous Dirichlet nodes eliminated; the matrix as COO with duplicates unsummed."""
    p = nodes[tris]  # [t, 3, 2]
    d1 = p[:, 1] - p[:, 0]
    d2 = p[:, 2] - p[:, 0]
    det = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    area = 0.5 * np.abs(det)
    # Gradients of the barycentric coordinates.
    inv = np.stack([np.stack([d2[:, 1], -d1[:, 1]], -1), np.stack([-d2[:, 0], d1[:, 0]], -1)], -2)
    inv = inv / det[:, None, None]  # rows: d/dx, d/dy of (λ1, λ2)
    g12 = np.transpose(inv, (0, 2, 1))  # [t, 2 (λ1, λ2), 2 (x, y)]
    g0 = -g12.sum(axis=1, keepdims=True)
    G = np.concatenate([g0, g12], axis=1)  # [t, 3, 2]
    k = np.ones(len(tris)) if kappa is None else kappa
    K = (k * area)[:, None, None] * np.einsum("tid,tjd->tij", G, G)
    rows = np.repeat(tris, 3, axis=1).ravel()
    cols = np.tile(tris, (1, 3)).ravel()
    n = len(nodes)
    F = np.zeros(n)
    np.add.at(F, tris.ravel(), np.repeat(area / 3.0, 3))
    free = np.setdiff1d(np.arange(n), boundary_nodes(nodes, tris))
    keep = -np.ones(n, dtype=np.int64)
    keep[free] = np.arange(len(free))
    mask = (keep[rows] >= 0) & (keep[cols] >= 0)
    A = sp.coo_matrix((K.ravel()[mask], (keep[rows[mask]], keep[cols[mask]])), shape=(len(free),) * 2)
    return A, F[free]


def system(m=24, lshape=False, checker=False):
    """A P1 system (CSR, exactly symmetric) and its right-hand side."""
    nodes, tris = square_mesh(m, lshape)
    kappa = None
    if checker:
        c = nodes[tris].mean(axis=1)
        kappa = np.where((np.floor(4 * c[:, 0]) + np.floor(4 * c[:, 1])) % 2 == 0, 1.0, 100.0)
    A, b = p1_laplacian(nodes, tris, kappa)
    A = A.tocsr()
    A = ((A + A.T) * 0.5).tocsr()  # exactly symmetric (sums of duplicates in any order)
    A.sort_indices()
    return A, b


def relative_residual(A, x, b):
    return np.linalg.norm(b - A @ x) / np.linalg.norm(b)
