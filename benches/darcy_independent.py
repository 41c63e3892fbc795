"""Darcy flow data from a generator independent of `nabla datagen darcy`, for the LSM vs FNO
comparison of issue 25 ("on Darcy data from an independent generator of the same equation").

Same equation and coefficient law as the FNO paper: -div(a grad u) = 1 on the unit square,
u = 0 on the boundary, a = 12 where psi >= 0 and 3 elsewhere, psi ~ N(0, (-Lap + 9 I)^-2) with
Neumann boundary conditions. What differs from nabla's generator, on purpose:
- the random field is sampled by numpy (PCG64) as a 2-D cosine series evaluated with scipy's
  DCT on a fine grid, not by nabla's Rust sampler;
- the equation is discretised on a 4x finer vertex grid (fine side 4(S-1)+1, as the FNO paper
  solved on 421^2 and subsampled) with *harmonic*-mean face coefficients (nabla: arithmetic
  means on the S x S grid itself), solved by a sparse direct factorisation (scipy's SuperLU,
  nabla: IC(0)-PCG), and subsampled to S x S;
- every residual is recomputed on the fine grid.

Writes nabla's Darcy layout (the PDEBench 2D_DarcyFlow one): `tensor` float32 [N,1,S,S] (u),
`nu` float32 [N,S,S] (a), `x-coordinate`, `y-coordinate` [S], attribute `beta` = 1.0, axes x
then y.

  benches/.venv/bin/python benches/darcy_independent.py --resolution 64 --samples 1200 \
      --seed 7 --out data/darcy64_indep.h5
"""

import argparse
import os
import sys
import time

import h5py
import numpy as np
import scipy.fft
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def grf(rng, n, tau=3.0, alpha=2.0):
    """psi on an n x n vertex grid of [0,1]^2: cosine series with eigenvalues
    (pi^2 (k1^2 + k2^2) + tau^2)^(-alpha/2), mean mode removed (Neumann)."""
    k = np.arange(n)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    sqrt_eig = (np.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2.0)
    sqrt_eig[0, 0] = 0.0
    coef = sqrt_eig * rng.standard_normal((n, n))
    # Type-I DCT evaluates sum_k c_k cos(pi k i / (n-1)) at the vertices i = 0..n-1.
    return scipy.fft.idctn(coef, type=1) * (2 * (n - 1)) ** 2 / 4.0


def assemble(a):
    """5-point finite-volume matrix of -div(a grad u) on the interior of an n x n vertex grid
    (h = 1/(n-1)), harmonic-mean face coefficients, Dirichlet u = 0 on the boundary."""
    n = a.shape[0]
    m = n - 2
    h2 = (1.0 / (n - 1)) ** 2

    def harmonic(p, q):
        return 2.0 * p * q / (p + q)

    ac = a[1:-1, 1:-1]
    east = harmonic(ac, a[2:, 1:-1])
    west = harmonic(ac, a[:-2, 1:-1])
    north = harmonic(ac, a[1:-1, 2:])
    south = harmonic(ac, a[1:-1, :-2])
    idx = np.arange(m * m).reshape(m, m)
    diag = (east + west + north + south).ravel() / h2
    rows, cols, vals = [idx.ravel()], [idx.ravel()], [diag]
    for (di, dj, coef) in [(1, 0, east), (-1, 0, west), (0, 1, north), (0, -1, south)]:
        i0, i1 = max(0, -di), m - max(0, di)
        j0, j1 = max(0, -dj), m - max(0, dj)
        src = idx[i0:i1, j0:j1].ravel()
        dst = idx[i0 + di:i1 + di, j0 + dj:j1 + dj].ravel()
        rows.append(src)
        cols.append(dst)
        vals.append(-coef[i0:i1, j0:j1].ravel() / h2)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m, m * m)
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--samples", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--refine", type=int, default=4, help="fine grid = refine*(S-1)+1")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    s, n_samples = args.resolution, args.samples
    fine = args.refine * (s - 1) + 1
    rng = np.random.default_rng(args.seed)
    u_out = np.zeros((n_samples, 1, s, s), dtype=np.float32)
    a_out = np.zeros((n_samples, s, s), dtype=np.float32)
    worst = 0.0
    start = time.time()
    for k in range(n_samples):
        psi = grf(rng, fine)
        a = np.where(psi >= 0.0, 12.0, 3.0)
        mat = assemble(a)
        rhs = np.ones(mat.shape[0])
        u_in = spla.spsolve(mat.tocsc(), rhs)
        worst = max(worst, np.linalg.norm(rhs - mat @ u_in) / np.linalg.norm(rhs))
        u = np.zeros((fine, fine))
        u[1:-1, 1:-1] = u_in.reshape(fine - 2, fine - 2)
        u_out[k, 0] = u[:: args.refine, :: args.refine]
        a_out[k] = a[:: args.refine, :: args.refine]
        if (k + 1) % 100 == 0:
            print(f"{k + 1}/{n_samples} samples, {time.time() - start:.0f} s", file=sys.stderr)
    if worst > 1e-8:
        sys.exit(f"error: a solve left relative residual {worst:.2e} (> 1e-8)")
    coords = np.linspace(0.0, 1.0, s, dtype=np.float32)
    tmp = args.out + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with h5py.File(tmp, "w") as f:
        f.create_dataset("tensor", data=u_out)
        f.create_dataset("nu", data=a_out)
        f.create_dataset("x-coordinate", data=coords)
        f.create_dataset("y-coordinate", data=coords)
        f.attrs["beta"] = 1.0
        f.attrs["generator"] = "benches/darcy_independent.py"
    os.replace(tmp, args.out)
    print(
        f"wrote {args.out}: {n_samples} samples at {s}x{s} (solved on {fine}x{fine}, "
        f"harmonic means, SuperLU), worst relative residual {worst:.1e}, "
        f"{time.time() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
