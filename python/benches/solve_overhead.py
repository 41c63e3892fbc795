"""Python-side overhead of nabla.solve on a 1M-unknown finite-element matrix from scipy, and the
same solve by the CLI on the same matrix (iterations and residual must agree).

    python python/benches/solve_overhead.py [REFINE] [REPEATS]

Assembles the P1 Laplacian on the unit square with scikit-fem (REFINE=10: 1025² nodes,
1,046,529 unknowns after the Dirichlet nodes are condensed out, about 5.2M nonzeros), random
right-hand side, tol 1e-8, amg-pcg. For each of REPEATS calls it prints the wall time of
`nabla.solve` and its parts: set-up + solve (the work the CLI does too), conversion (copying the
CSR arrays into nabla), the Python wrapper and argument checks (wall − the native call), and the
rest of the native call (the residual recomputed from x and freeing the hierarchy: the CLI does
both too). The Python-side overhead is conversion + wrapper, as a percentage of set-up + solve;
everything outside set-up + solve is printed beside it. Needs scikit-fem and the nabla CLI
(NABLA_BIN, default target/release/nabla, else target/debug/nabla).
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.io

import nabla
from skfem import Basis, ElementTriP1, MeshTri, asm, condense
from skfem.models.poisson import laplace

refine = int(sys.argv[1]) if len(sys.argv) > 1 else 10
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
repo = pathlib.Path(__file__).resolve().parents[2]

mesh = MeshTri().refined(refine)
basis = Basis(mesh, ElementTriP1())
K = asm(laplace, basis)
A, _, _, _ = condense(K, np.zeros(K.shape[0]), D=basis.get_dofs())
A = A.tocsr()
A.sum_duplicates()
b = np.random.default_rng(1).standard_normal(A.shape[0])
print(f"P1 Laplacian, {A.shape[0]} unknowns, {A.nnz} nonzeros, amg-pcg, tol 1e-8")

rows, outside = [], []
for k in range(repeats):
    t0 = time.perf_counter()
    x, r = nabla.solve(A, b, solver="amg-pcg", tol=1e-8, record_history=False)
    wall = time.perf_counter() - t0
    work = r["setup_seconds"] + r["solve_seconds"]
    wrapper = wall - r["seconds"]
    rest = r["seconds"] - r["conversion_seconds"] - work
    over = r["conversion_seconds"] + wrapper
    rows.append(over / work)
    outside.append((wall - work) / work)
    print(f"call {k + 1}: wall {wall:.3f} s = set-up + solve {work:.3f} s ({r['iterations']} iterations) "
          f"+ conversion {r['conversion_seconds']:.3f} s + wrapper {wrapper:.3f} s + residual/free {rest:.3f} s; "
          f"Python-side overhead {100 * over / work:.1f} %, all outside set-up + solve {100 * (wall - work) / work:.1f} %")
print(f"Python-side overhead (conversion + wrapper): median {100 * float(np.median(rows)):.1f} %, "
      f"best {100 * min(rows):.1f} %, worst {100 * max(rows):.1f} % of set-up + solve; everything outside "
      f"set-up + solve: median {100 * float(np.median(outside)):.1f} %")

exe = os.environ.get("NABLA_BIN")
if exe is None:
    exe = next((p for p in (repo / "target/release/nabla", repo / "target/debug/nabla") if p.is_file()), None)
if exe is None:
    sys.exit("no nabla CLI found (cargo build --release -p nabla-cli, or set NABLA_BIN): skipped the CLI comparison")
with tempfile.TemporaryDirectory() as d:
    d = pathlib.Path(d)
    scipy.io.mmwrite(d / "A.mtx", A, precision=17)
    scipy.io.mmwrite(d / "b.mtx", b[:, None], precision=17)
    subprocess.run([str(exe), "poisson", "--matrix", d / "A.mtx", "--rhs-file", d / "b.mtx", "--solver", "amg-pcg",
                    "--tol", "1e-8", "--report", d / "r.json", "--quiet"], check=True, capture_output=True)
    cli = json.loads((d / "r.json").read_text())
print(f"CLI ({exe}): {cli['iterations']} iterations, relative residual {cli['relative_residual']:.3e}; "
      f"Python: {r['iterations']} iterations, relative residual {r['relative_residual']:.3e}; "
      f"same iterations: {cli['iterations'] == r['iterations']}")
