#!/usr/bin/env python3
"""3-D linear elasticity (P1 tetrahedra, scikit-fem) through nabla's AMG and pyamg's.

    benches/.venv/bin/python benches/amg_elasticity.py [--nx 21 --nz 41] [--nabla target/release/nabla]

Builds the bar [0,1]² × [0,3] clamped at z = 0 (E = 1000, ν = 0.3; `build_elasticity` in
make_fe_datasets.py), writes A, a random rhs and the six rigid-body modes as MatrixMarket, and
solves to 1e-8 with `nabla poisson --matrix` (amg-pcg as scalars, `--amg-block-size 3`, and
`--near-nullspace` rigid-body modes) and pyamg (smoothed_aggregation_solver + CG, constant and
rigid-body near-nullspace). Every residual is recomputed with scipy. One run each (2 threads for
nabla; pyamg is single-threaded).
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_fe_datasets as fe  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nx", type=int, default=21)
    p.add_argument("--nz", type=int, default=41)
    p.add_argument("--nabla", default=str(fe.ROOT / "target/release/nabla"))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    import fast_matrix_market as fmm
    import pyamg

    a, modes = fe.build_elasticity(args.nx, args.nz)
    b = np.random.default_rng(0).uniform(-1, 1, a.shape[0])
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        fmm.mmwrite(str(d / "A.mtx"), a)
        fmm.mmwrite(str(d / "b.mtx"), b.reshape(-1, 1))
        fmm.mmwrite(str(d / "B.mtx"), modes)
        for label, extra in [("nabla amg-pcg, scalar", []),
                             ("nabla amg-pcg, --amg-block-size 3", ["--amg-block-size", "3"]),
                             ("nabla amg-pcg, rigid-body modes", ["--amg-block-size", "3", "--near-nullspace", str(d / "B.mtx")])]:
            cmd = [args.nabla, "poisson", "--matrix", str(d / "A.mtx"), "--rhs-file", str(d / "b.mtx"),
                   "--solver", "amg-pcg", "--tol", "1e-8", "--threads", str(args.threads),
                   "--max-iters", "5000", "--report", str(d / "r.json"), "--out", str(d / "x.h5"), "--quiet"] + extra
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                rows.append((label, "failed: " + run.stderr.strip()[:100], "", "", "", ""))
                continue
            r = json.loads((d / "r.json").read_text())
            import h5py
            with h5py.File(d / "x.h5") as f:
                x = f["x"][...]
            res = np.linalg.norm(b - a @ x) / np.linalg.norm(b)
            rows.append((label, r["iterations"], f"{res:.2e}", f"{r['setup_seconds']:.3f}",
                         f"{r['solve_seconds']:.3f}", f"{r['operator_complexity']:.2f}"))
        for label, kw in [("pyamg sa+cg, constant", {}), ("pyamg sa+cg, rigid-body modes", {"B": modes})]:
            t0 = time.perf_counter()
            ml = pyamg.smoothed_aggregation_solver(a, **kw)
            t1 = time.perf_counter()
            res_hist = []
            x = ml.solve(b, tol=1e-8, accel="cg", maxiter=5000, residuals=res_hist)
            t2 = time.perf_counter()
            res = np.linalg.norm(b - a @ x) / np.linalg.norm(b)
            rows.append((label, len(res_hist) - 1, f"{res:.2e}", f"{t1 - t0:.3f}", f"{t2 - t1:.3f}",
                         f"{ml.operator_complexity():.2f}"))
    print(f"3-D elasticity, P1 tetrahedra, {a.shape[0]:,} unknowns, {a.nnz:,} nonzeros, tol 1e-8\n")
    print("| method | iterations | rel. residual (scipy) | setup s | solve s | operator complexity |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| " + " | ".join(str(v) for v in r) + " |")


if __name__ == "__main__":
    main()
