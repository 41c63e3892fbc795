"""Helpers shared by poisson_bench.py and verify_solutions.py.

Everything here rebuilds what nabla computes from first principles with scipy, so that the
checks do not trust any number nabla reports about itself.
"""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp


def parse_grid(text):
    """'256x256' -> (256, 256); the order is (NX, NY[, NZ]), as nabla's --grid reads it."""
    dims = tuple(int(p) for p in text.lower().split("x"))
    if not 1 <= len(dims) <= 3 or min(dims) < 1:
        raise ValueError(f"bad grid {text!r}: expected NX, NXxNY or NXxNYxNZ")
    return dims


def _tridiag(n):
    return sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])


def grid_laplacian(dims, mask=None):
    """h²-scaled 5-/7-point Dirichlet Laplacian on NX×NY(×NZ) interior unknowns, x fastest.

    With x fastest the x-operator must be the innermost (right-most) Kronecker factor:
    unknown i + NX*j + NX*NY*k sits at position (k, j, i) of a C-ordered (NZ, NY, NX) array.
    `mask` (C-ordered, same shape as nabla's `u`, non-zero = solid) removes solid cells'
    rows and columns: they are fixed at 0, so their couplings simply drop out of the system.
    Returns the CSR matrix and the flat indices (into the whole grid) of the unknowns.
    """
    ops = []
    for axis, n in enumerate(dims):
        factors = [sp.identity(m) for m in reversed(dims)]  # outermost first: z, y, x
        factors[len(dims) - 1 - axis] = _tridiag(n)
        op = factors[0]
        for f in factors[1:]:
            op = sp.kron(op, f)
        ops.append(op)
    a = sp.csr_matrix(sum(ops[1:], ops[0]))
    fluid = np.arange(a.shape[0])
    if mask is not None:
        fluid = np.flatnonzero(np.asarray(mask).ravel() == 0)
        a = a[fluid][:, fluid].tocsr()
    a.sort_indices()
    return a, fluid


def relative_residual(a, x, b):
    return float(np.linalg.norm(b - a @ x) / np.linalg.norm(b))


def rel_diff(p, q):
    """Relative difference of two positive figures (0 when both are 0)."""
    scale = max(abs(p), abs(q))
    return 0.0 if scale == 0 else abs(p - q) / scale


@dataclass
class NablaRun:
    returncode: int
    stdout: str
    stderr: str
    report: dict | None
    h5: Path
    report_path: Path

    def load(self, *names):
        with h5py.File(self.h5, "r") as f:
            return tuple(f[n][()] for n in names)


def run_nabla(nabla, out_dir, tag, args):
    """Run `nabla poisson ARGS --out --report`, writing out_dir/TAG.h5 and out_dir/TAG.json.

    Stale files are removed first: nabla promises not to write on failure, and a leftover file
    from an earlier run would otherwise hide a broken promise (or a broken run).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    h5, rep = out_dir / f"{tag}.h5", out_dir / f"{tag}.json"
    for p in (h5, rep):
        p.unlink(missing_ok=True)
    cmd = [str(nabla), "poisson", *args, "--out", str(h5), "--report", str(rep), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    report = json.loads(rep.read_text()) if rep.exists() else None
    return NablaRun(proc.returncode, proc.stdout, proc.stderr, report, h5, rep)


def markdown_table(header, rows, align=None):
    """Render rows (lists of str) as a GitHub markdown table; `align` is a string of l/r."""
    align = align or "l" * len(header)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row):
        cells = [
            str(c).rjust(w) if a == "r" else str(c).ljust(w)
            for c, w, a in zip(row, widths, align)
        ]
        return "| " + " | ".join(cells) + " |"

    sep = "|" + "|".join(
        "-" * (w + 1) + ":" if a == "r" else "-" * (w + 2) for w, a in zip(widths, align)
    ) + "|"
    return "\n".join([fmt(header), sep, *(fmt(r) for r in rows)])
