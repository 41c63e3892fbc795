#!/usr/bin/env python3
"""Verify every nabla solver's output files independently with scipy.

Run through benches/verify_solutions.sh. For each solver on a 2-D grid, a 3-D grid, a masked 2-D
grid and a MatrixMarket input it runs `nabla poisson --out --report`, rebuilds A without nabla
(Kronecker products, the mask, or scipy.io.mmread), and checks:

- ‖b − A x‖/‖b‖ from the HDF5 `x` and `b` is ≤ tol and agrees with the report's
  relative_residual (and with the HDF5 attribute of the same name);
- the report's unknowns/nonzeros match scipy's matrix and `residual_history` has one entry per
  iteration plus the initial one;
- for grids, `u` is `x` scattered onto the (NY, NX) / (NZ, NY, NX) grid, solid cells exactly 0;
- for the MatrixMarket case, `b` is the --rhs-file vector, and mg-pcg (grid-only) fails with
  a non-zero exit, a single-line error and no output files.

Prints a table and exits non-zero on any mismatch.
"""

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np
import scipy.io
import scipy.sparse

from common import grid_laplacian, markdown_table, parse_grid, rel_diff, relative_residual, run_nabla

ROOT = Path(__file__).resolve().parent.parent
SOLVERS = ["cg", "jacobi-pcg", "ic0-pcg", "ssor-pcg", "mg-pcg", "sor", "ssor"]
OMEGA_SOLVERS = {"sor", "ssor", "ssor-pcg"}
TOL = 1e-8
# SOR with ω = 1.5 on the 64×64 grids needs ~10³ sweeps; plenty of headroom so that a slow
# but correct solver is not reported as a failure.
MAX_ITERS = 200_000
# Same x, different summation order: the two residuals should agree to many digits; the margin
# only has to catch a report taken from the wrong vector or from the CG recurrence.
AGREEMENT = 0.03


def problems():
    """(name, nabla arguments, builder) where builder returns (A, fluid indices, grid shape, b_expected)."""
    def grid(text, mask_file=None):
        dims = parse_grid(text)
        shape = tuple(reversed(dims))  # nabla's `u` is C-ordered (NZ, NY, NX): x fastest

        def build():
            mask = None
            if mask_file:
                with h5py.File(mask_file, "r") as f:
                    mask = f["mask"][()]
                assert mask.shape == shape, f"mask shape {mask.shape} != grid {shape}"
            a, fluid = grid_laplacian(dims, mask)
            return a, fluid, shape, None
        return build

    def mtx(matrix, rhs):
        def build():
            a = scipy.sparse.csr_matrix(scipy.io.mmread(matrix))
            b = np.asarray(scipy.io.mmread(rhs)).ravel()
            return a, None, None, b
        return build

    mask = ROOT / "datasets/mask_box_64x64.h5"
    a_mtx = ROOT / "datasets/poisson2d_16x16.mtx"
    b_mtx = ROOT / "datasets/poisson2d_16x16_rhs.mtx"
    return [
        ("grid 48x40", ["--grid", "48x40", "--rhs", "random", "--seed", "3"], grid("48x40")),
        ("grid 16x14x12", ["--grid", "16x14x12", "--rhs", "random", "--seed", "4"], grid("16x14x12")),
        ("masked 64x64", ["--grid", "64x64", "--mask", str(mask), "--rhs", "random", "--seed", "5"],
         grid("64x64", mask)),
        ("mtx 16x16", ["--matrix", str(a_mtx), "--rhs-file", str(b_mtx)], mtx(a_mtx, b_mtx)),
    ]


def check_expected_failure(run):
    """mg-pcg on a matrix without a grid: must refuse cleanly, as the issue asks."""
    errs = []
    lines = [l for l in run.stderr.splitlines() if l.strip()]
    if run.returncode == 0:
        errs.append("exit 0, expected a failure")
    if len(lines) != 1:
        errs.append(f"expected a one-line error, got {len(lines)} lines on stderr")
    if "panic" in run.stderr.lower():
        errs.append("panicked")
    if run.h5.exists() or run.report_path.exists():
        errs.append("wrote output files despite failing")
    msg = lines[0] if lines else run.stdout.strip()
    return errs, msg


def check_run(run, solver, a, fluid, shape, b_expected):
    errs = []
    rep = run.report
    x, b = run.load("x", "b")
    with h5py.File(run.h5, "r") as f:
        attrs = dict(f.attrs)
        u = f["u"][()] if "u" in f else None

    n = a.shape[0]
    if x.shape != (n,) or b.shape != (n,):
        return [f"x {x.shape} / b {b.shape}, expected ({n},)"], float("nan")
    resid = relative_residual(a, x, b)
    if resid > TOL:
        errs.append(f"recomputed residual {resid:.3e} > tol")
    if rel_diff(resid, rep["relative_residual"]) > AGREEMENT:
        errs.append(f"report relative_residual {rep['relative_residual']:.4e} vs recomputed {resid:.4e}")
    if "relative_residual" in attrs and rel_diff(float(attrs["relative_residual"]), rep["relative_residual"]) > 1e-12:
        errs.append("HDF5 attribute relative_residual differs from the report")
    if rep["solver"] != solver:
        errs.append(f"report solver {rep['solver']!r}")
    if not rep["converged"]:
        errs.append("report says converged = false")
    if rep["unknowns"] != n:
        errs.append(f"report unknowns {rep['unknowns']} != {n}")
    if rep["nonzeros"] != a.nnz:
        errs.append(f"report nonzeros {rep['nonzeros']} != scipy's {a.nnz}")
    if len(rep["residual_history"]) != rep["iterations"] + 1:
        errs.append(f"residual_history has {len(rep['residual_history'])} entries for "
                    f"{rep['iterations']} iterations")

    if b_expected is not None and not np.array_equal(b, b_expected):
        errs.append(f"b differs from the --rhs-file vector (max |Δ| {np.max(np.abs(b - b_expected)):.2e})")
    if shape is None:
        if u is not None:
            errs.append("`u` written for a non-grid problem")
    elif u is None:
        errs.append("no `u` dataset for a grid problem")
    elif u.shape != shape:
        errs.append(f"u shape {u.shape}, expected {shape}")
    else:
        expected = np.zeros(int(np.prod(shape)))
        expected[fluid] = x
        if not np.array_equal(u.ravel(), expected):
            errs.append(f"u is not x scattered onto the grid "
                        f"({np.count_nonzero(u.ravel() != expected)} cells differ)")
    return errs, resid


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nabla", default=str(ROOT / "target/release/nabla"))
    p.add_argument("--out-dir", default=str(ROOT / "benches/out/verify"))
    args = p.parse_args()
    out_dir = Path(args.out_dir)

    rows, failures = [], 0
    for name, base, build in problems():
        a, fluid, shape, b_expected = build()
        for solver in SOLVERS:
            extra = ["--solver", solver, "--tol", repr(TOL), "--max-iters", str(MAX_ITERS)]
            if solver in OMEGA_SOLVERS:
                extra += ["--omega", "1.5"]
            tag = f"{name.replace(' ', '_')}_{solver}"
            run = run_nabla(args.nabla, out_dir, tag, base + extra)
            expect_fail = solver == "mg-pcg" and shape is None
            if expect_fail:
                errs, msg = check_expected_failure(run)
                rows.append([name, f"{a.shape[0]:,}", solver, f"exit {run.returncode}", "", "",
                             "ok" if not errs else "; ".join(errs), msg])
            elif run.returncode != 0 or run.report is None or not run.h5.exists():
                lines = (run.stderr.strip() or run.stdout.strip()).splitlines()
                errs = [f"exit {run.returncode}: {lines[-1] if lines else '(no message)'}"]
                rows.append([name, f"{a.shape[0]:,}", solver, "failed", "", "", errs[0], ""])
            else:
                errs, resid = check_run(run, solver, a, fluid, shape, b_expected)
                rep = run.report
                rows.append([name, f"{a.shape[0]:,}", solver, str(rep["iterations"]),
                             f"{rep['relative_residual']:.4e}", f"{resid:.4e}",
                             "ok" if not errs else "; ".join(errs), ""])
            failures += bool(errs)

    header = ["problem", "unknowns", "solver", "iterations", "report residual",
              "scipy residual", "check", "expected error"]
    print(markdown_table(header, rows, align="lrlrrrll"))
    print(f"\ntol {TOL:g}; residual = ‖b − A x‖/‖b‖ from the HDF5 x and b, A rebuilt with scipy.")
    if failures:
        print(f"\n{failures} of {len(rows)} runs FAILED verification")
        sys.exit(1)
    print(f"\nAll {len(rows)} runs verified.")


if __name__ == "__main__":
    main()
