#!/usr/bin/env python3
"""Benchmark nabla's algebraic multigrid (`--solver amg-pcg`) against pyamg and AMGCL on
unstructured finite-element Poisson matrices.

Run through benches/amg_bench.sh (which builds nabla and prepares the venv: scikit-fem, pyamg,
fast_matrix_market and, when it builds, AMGCL's Python binding pyamgcl).

The matrices are built here with scikit-fem (benches/make_fe_datasets.py has the mesh and
assembly code): four families, a-d, of −div(k grad u) = f with u = 0 on the boundary, at two
sizes, written as MatrixMarket files (lower triangle, `coordinate real symmetric`) with a
seeded random right-hand side uniform in [−1, 1], and cached in benches/out/amg/ (regenerated
only when missing, or with --regenerate).

Every solver gets the very same system: nabla reads the files; pyamg and AMGCL get the matrix
read back from the same files. Each solution's relative residual ‖b − A x‖/‖b‖ is recomputed
here with scipy, and a row whose residual is above tol·1.01 fails. The script prints one
markdown table (also written to benches/out/amg_bench.md), followed by the targets of the AMG
issue marked ✓/✗, and exits non-zero if a run failed (a nabla error, a residual above
tolerance, a report that disagrees with the recomputed residual). Targets that are not met do
not change the exit status: they are measurements, not checks.
"""

import argparse
import json
import os
import platform
import re
import sys
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nabla", default=str(ROOT / "target/release/nabla"),
                   help="the nabla binary (default: target/release/nabla)")
    p.add_argument("--size", choices=["small", "large", "both"], default="both",
                   help="small ≈ 200k unknowns (2-D) / 250k (3-D); large ≈ 800k / 2M (default: both)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: ≈ 50k unknowns (2-D) / 60k (3-D) only (overrides --size)")
    p.add_argument("--families", default="a,b,c,d",
                   help="comma-separated subset of a (P1 L-shape), b (P2 distorted square), "
                        "c (P1 checkerboard 1:1000), d (P1 tetrahedra, cube) (default: all)")
    p.add_argument("--nabla-solvers", default="amg-pcg",
                   help="comma-separated nabla --solver values, one row each (default: amg-pcg)")
    p.add_argument("--grids", action="store_true",
                   help="also run nabla amg-pcg and mg-pcg on the plain grids 512x512 and 64x64x64")
    p.add_argument("--target-solver", default="amg-pcg",
                   help="the nabla solver the targets judge, and that --grids runs next to mg-pcg "
                        "(default: amg-pcg; another value tests this script before amg-pcg exists)")
    p.add_argument("--no-amgcl", action="store_true", help="skip AMGCL even if pyamgcl imports")
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--threads", type=int, default=2,
                   help="threads for nabla (--threads) and AMGCL (OMP_NUM_THREADS) (default: 2)")
    p.add_argument("--max-iters", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=1, help="timed repeats; the best total is kept")
    p.add_argument("--regenerate", action="store_true", help="rebuild the cached matrices")
    p.add_argument("--generate-only", action="store_true",
                   help="build (or find cached) the matrices, print their generation times, stop")
    p.add_argument("--out-dir", default=str(BENCH_DIR / "out"))
    args = p.parse_args()
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    args.families = [f.strip() for f in args.families.split(",") if f.strip()]
    for f in args.families:
        if f not in "abcd" or len(f) != 1:
            p.error(f"unknown family {f!r}: expected a, b, c or d")
    args.sizes = ["quick"] if args.quick else (["small", "large"] if args.size == "both" else [args.size])
    args.nabla_solvers = [s.strip() for s in args.nabla_solvers.split(",") if s.strip()]
    if not args.nabla_solvers:
        p.error("--nabla-solvers is empty")
    return args


ARGS = parse_args() if __name__ == "__main__" else None

# Thread limits must be set before numpy (OpenBLAS) and pyamgcl (OpenMP) load. pyamg's kernels
# and scipy's sparse products are single-threaded anyway; AMGCL is OpenMP-parallel and gets the
# same number of threads as nabla. BLAS is single-threaded as in poisson_bench.py (it only does
# level-1 work here, where a thread pool costs more than it gains).
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads if ARGS else 2)
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pyamg  # noqa: E402
import scipy  # noqa: E402

sys.path.insert(0, str(BENCH_DIR))
import make_fe_datasets as fe  # noqa: E402
from common import grid_laplacian, markdown_table, parse_grid, rel_diff, relative_residual, run_nabla  # noqa: E402

try:
    import pyamgcl
except ImportError as _e:  # the shell script warns at install time; say it again in the output
    pyamgcl = None
    AMGCL_MISSING = str(_e)
else:
    AMGCL_MISSING = None

GRIDS = ["512x512", "64x64x64"]
RESIDUAL_SLACK = 1.01  # a row fails when the recomputed residual exceeds tol × this
REPORT_AGREEMENT = 0.03  # nabla's reported residual vs ours (same x, different summation order)
# Targets of the AMG issue.
T_VS_PYAMG = 0.5
T_ITERS_VS_PYAMG = 1.25
T_SCALING = 1.3
T_OC = {2: 1.6, 3: 2.0}
T_VS_MG = 3.0
AMGCL_PRM = {"coarsening.type": "smoothed_aggregation", "relax.type": "spai0"}
THREADS_SEEN = set()
MONITOR = None  # RunQueue, started by main()
BUSY_MARGIN = 0.75  # flag a run whose mean run queue exceeds its own threads + sampler + this


# ------------------------------------------------------------------------------------------------
# Contention


class RunQueue:
    """Samples the kernel's count of runnable threads (/proc/stat procs_running, all processes
    of the machine, this sampler included) four times a second. On a small machine another
    job (a build, a second benchmark) competing for the cores shows up here; AMGCL's OpenMP
    barriers in particular slow down by 10-50x when one of its threads is descheduled, so the
    table flags the matrices measured while the queue was longer than our own threads."""

    def __init__(self):
        self.samples, self.cut = [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _read():
        try:
            for line in Path("/proc/stat").read_text().splitlines():
                if line.startswith("procs_running"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return None

    def _run(self):
        while not self._stop.wait(0.25):
            v = self._read()
            if v is not None:
                self.samples.append(v)

    def since_last(self):
        """(mean, max) of the samples since the previous call, or None."""
        part, self.cut = self.samples[self.cut:], len(self.samples)
        return (sum(part) / len(part), max(part)) if part else None

    def overall(self):
        return (sum(self.samples) / len(self.samples), max(self.samples)) if self.samples else None


# ------------------------------------------------------------------------------------------------
# Matrices


def matrix_paths(out_amg, family, size):
    stem = out_amg / f"{family.name}_{size}"
    return stem.with_suffix(".mtx"), Path(f"{stem}_rhs.mtx"), stem.with_suffix(".json")


def ensure_matrix(out_amg, family, size, regenerate):
    """Write (unless cached) the matrix, rhs and a JSON of their generation; return the JSON.
    The JSON is written last, so it marks a complete pair; a cached pair made with other mesh
    settings than the current ones is rebuilt."""
    a_path, b_path, meta_path = matrix_paths(out_amg, family, size)
    if not regenerate and a_path.exists() and b_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        current = (fe.SIZES[size][family.key], family.jitter, fe.SEED)
        if (meta.get("mesh_parameter"), meta.get("jitter"), meta.get("seed")) == current:
            meta["cached"] = True
            return meta
    print(f"... generating {family.key} {size} ({family.label})", file=sys.stderr, flush=True)
    out_amg.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    a, meta = fe.build_matrix(family, size)
    b = fe.rhs_for(a.shape[0], family.key, meta["mesh_parameter"])
    t1 = time.perf_counter()
    comment = (f"nabla amg_bench: family {family.key} ({family.label}), size {size}, "
               f"{meta['unknowns']} unknowns; -div(k grad u) = f, u = 0 on the boundary; "
               f"benches/make_fe_datasets.py")
    fe.write_matrix_fast(a_path, a, comment=comment)
    fe.write_vector_fast(b_path, b, comment=f"random rhs uniform in [-1, 1] for {a_path.name}")
    meta["write_seconds"] = time.perf_counter() - t1
    meta["generate_seconds"] = time.perf_counter() - t0
    meta["size"] = size
    meta["generated"] = time.strftime("%Y-%m-%d %H:%M:%S")
    meta["matrix_bytes"] = a_path.stat().st_size
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    meta["cached"] = False
    print(f"    {meta['unknowns']:,} unknowns, {meta['nonzeros']:,} nonzeros: mesh "
          f"{meta['mesh_seconds']:.1f} s, assembly {meta['assembly_seconds']:.1f} s, write "
          f"{meta['write_seconds']:.1f} s", file=sys.stderr, flush=True)
    return meta


# ------------------------------------------------------------------------------------------------
# Solvers


def nabla_error(run):
    text = (run.stderr.strip() or run.stdout.strip()).splitlines()
    for line in text:
        if line.lower().startswith("error"):
            return line.strip()
    return text[-1].strip() if text else "(no message)"


def nabla_row(args, out_amg, tag, problem_args, solver, a, b, failures, label):
    """Run nabla (best of --repeat); the row dict, or None after printing nabla's error."""
    timed = []
    for _ in range(args.repeat):
        queue_start()
        run = run_nabla(args.nabla, out_amg, f"{tag}_{solver}",
                        problem_args + ["--solver", solver, "--tol", repr(args.tol),
                                        "--threads", str(args.threads), "--max-iters", str(args.max_iters)])
        if run.report is None:
            msg = nabla_error(run)
            print(f"    nabla {solver} on {label} failed (exit {run.returncode}): {msg}", file=sys.stderr, flush=True)
            failures.append(f"{label} nabla {solver}: exit {run.returncode}: {msg}")
            return {"failed": msg}
        r = run.report
        THREADS_SEEN.add(r.get("threads"))
        read = r.get("read_seconds", r.get("assembly_seconds"))
        timed.append({"iters": r.get("iterations"), "setup": r.get("setup_seconds", 0.0),
                      "solve": r.get("solve_seconds", 0.0), "read": read,
                      "oc": r.get("operator_complexity"), "levels": _levels(r.get("levels")),
                      "report": r, "run": run, "busy": queue_busy(args.threads)})
    row = min(timed, key=lambda t: t["setup"] + t["solve"])
    r = row["report"]
    x, xb = timed[-1]["run"].load("x", "b")
    if b is None:  # grid problems: nabla generated b
        b = xb
    elif not np.array_equal(xb, b):
        failures.append(f"{label} nabla {solver}: the right-hand side nabla read differs from the file's")
    if a is not None and r.get("nonzeros") is not None and r["nonzeros"] != a.nnz:
        failures.append(f"{label} nabla {solver}: report nonzeros {r['nonzeros']} but the matrix has {a.nnz}")
    row["resid"] = relative_residual(a, x, b)
    if not r.get("converged", True):
        failures.append(f"{label} nabla {solver}: report says converged = false")
    rep = r.get("relative_residual")
    if rep is not None and rel_diff(row["resid"], rep) > REPORT_AGREEMENT:
        failures.append(f"{label} nabla {solver}: report relative_residual {rep:.4e} vs recomputed {row['resid']:.4e}")
    for t in timed:
        t.pop("run")
    return row


def queue_start():
    if MONITOR:
        MONITOR.since_last()


def queue_busy(threads):
    """The mean run queue since queue_start() if it shows other work competing, else None."""
    q = MONITOR.since_last() if MONITOR else None
    return q[0] if q and q[0] > threads + 1 + BUSY_MARGIN else None


def _levels(v):
    if isinstance(v, list):
        return len(v)
    return v if isinstance(v, int) else None


def pyamg_sa(a, b, tol, maxiter):
    t0 = time.perf_counter()
    ml = pyamg.smoothed_aggregation_solver(a)
    setup = time.perf_counter() - t0
    residuals = []
    t0 = time.perf_counter()
    x = ml.solve(b, tol=tol, accel="cg", maxiter=maxiter, residuals=residuals)
    solve = time.perf_counter() - t0
    return {"x": x, "iters": len(residuals) - 1, "setup": setup, "solve": solve,
            "oc": ml.operator_complexity(), "levels": len(ml.levels)}


def amgcl_sa(a, b, tol, maxiter):
    """AMGCL: smoothed aggregation, SPAI(0) relaxation, as the preconditioner of CG (pyamgcl)."""
    t0 = time.perf_counter()
    precond = pyamgcl.amg(a, prm=AMGCL_PRM)
    solver = pyamgcl.solver(precond, prm={"type": "cg", "tol": tol, "maxiter": maxiter})
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    x = np.asarray(solver(b))
    solve = time.perf_counter() - t0
    text = repr(precond)
    oc = re.search(r"Operator complexity:\s*([0-9.]+)", text)
    lv = re.search(r"Number of levels:\s*([0-9]+)", text)
    return {"x": x, "iters": int(solver.iters), "setup": setup, "solve": solve,
            "oc": float(oc.group(1)) if oc else None, "levels": int(lv.group(1)) if lv else None}


def reference_row(fn, a, b, args, threads):
    timed = []
    for _ in range(args.repeat):
        queue_start()
        row = fn(a, b, args.tol, args.max_iters)
        row["busy"] = queue_busy(threads)
        timed.append(row)
    row = min(timed, key=lambda t: t["setup"] + t["solve"])
    row["resid"] = relative_residual(a, row.pop("x"), b)
    for t in timed:
        t.pop("x", None)
    return row


def warm_up():
    """Pay pyamg's and AMGCL's one-off costs (lazy imports, first-call set-up) on a tiny problem,
    so they do not land in the first timed problem; nabla runs as a fresh process each time and
    gets no such help, so this only removes bias against the references."""
    a, _ = grid_laplacian((32, 32))
    b = np.ones(a.shape[0])
    pyamg_sa(a, b, 1e-8, 100)
    if pyamgcl is not None:
        amgcl_sa(a, b, 1e-8, 100)


def check_residual(row, tol, failures, label, method):
    if row.get("failed"):
        return
    limit = tol * RESIDUAL_SLACK
    if not np.isfinite(row["resid"]) or row["resid"] > limit:
        row["resid_bad"] = True
        failures.append(f"{label} {method}: recomputed residual {row['resid']:.3e} > {limit:.3e}")


# ------------------------------------------------------------------------------------------------
# Output


def fmt_s(t):
    if t is None:
        return "—"
    return f"{t:.3f}" if t >= 0.01 else f"{t:.4f}"


def fmt_ratio(p, q):
    return f"{p / q:.2f}" if p is not None and q else ""


def total(row):
    if not row or row.get("failed"):
        return None
    return row["setup"] + row["solve"]


def table_rows(label, n, nnz, rows):
    """rows: ordered {method: row dict}; the cells of the table, one list per method."""
    py, cl = rows.get("pyamg sa+cg"), rows.get("amgcl sa+cg")
    out = []
    for method, r in rows.items():
        if r.get("failed"):
            out.append([label, f"{n:,}", f"{nnz:,}", method, "failed", r["failed"][:60]] + [""] * 8)
            continue
        oc = "" if r.get("oc") is None else f"{r['oc']:.2f}"
        if r.get("levels"):
            oc += f" ({r['levels']} lv)"
        resid = f"{r['resid']:.2e}" + (" ✗" if r.get("resid_bad") else "")
        t = total(r)
        out.append([
            label, f"{n:,}", f"{nnz:,}", method, str(r["iters"]), resid,
            fmt_s(r.get("read")) if method.startswith("nabla") else "",
            fmt_s(r["setup"]), fmt_s(r["solve"]), fmt_s(t) + (" ‡" if r.get("busy") else ""), oc or "—",
            fmt_ratio(t, total(py)) if method != "pyamg sa+cg" else "",
            fmt_ratio(t, total(cl)) if method != "amgcl sa+cg" else "",
            fmt_ratio(r["iters"], py["iters"]) if py and not py.get("failed") and method != "pyamg sa+cg" else "",
        ])
    return out


def cpu_info():
    model, flags = platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    avx512 = sorted(f for f in flags if f.startswith("avx512"))
    return model, ("yes (" + ", ".join(avx512) + ")") if avx512 else "no"


def version(dist):
    try:
        from importlib.metadata import version as v

        return v(dist)
    except Exception:  # noqa: BLE001
        return "?"


def mark(ok):
    return "✓" if ok else "✗"


def targets(args, results, grid_results, use_amgcl):
    """Lines judging the issue's targets. results: [(family, size, n, rows)]."""
    solver = args.target_solver
    ours = f"nabla {solver}"
    if solver not in args.nabla_solvers:
        return [f"- – targets not evaluated: `--nabla-solvers` does not include {solver}"]

    def per_matrix(name, value, limit, ref=None):
        """✓ when value(row, rows) ≤ limit(family) on every matrix; the values listed."""
        vals, problems = [], []
        for f, s, _, rows in results:
            r, label = rows.get(ours), f"{f.key} {s}"
            if total(r) is None:
                problems.append(f"{label}: {solver} failed")
            elif ref and total(rows.get(ref)) is None:
                problems.append(f"{label}: {ref} failed")
            elif (v := value(r, rows)) is None:
                problems.append(f"{label}: not reported")
            else:
                vals.append((label, v, limit(f)))
        ok = bool(vals) and not problems and all(v <= lim for _, v, lim in vals)
        detail = ", ".join(f"{k} {v:.2f}" for k, v, _ in vals)
        detail += ("; " if detail and problems else "") + "; ".join(problems)
        return f"- {mark(ok)} {name}: {detail or 'nothing run'}"

    py, cl = "pyamg sa+cg", "amgcl sa+cg"
    lines = [
        per_matrix(f"{ours} total ≤ {T_VS_PYAMG}× pyamg total on every matrix",
                   lambda r, rows: total(r) / total(rows[py]), lambda f: T_VS_PYAMG, py),
        per_matrix(f"{ours} total ≤ AMGCL total on every matrix",
                   lambda r, rows: total(r) / total(rows[cl]), lambda f: 1.0, cl)
        if use_amgcl else f"- – {ours} total ≤ AMGCL total on every matrix: not evaluated (no AMGCL)",
        per_matrix(f"{ours} iterations ≤ {T_ITERS_VS_PYAMG}× pyamg's",
                   lambda r, rows: r["iters"] / rows[py]["iters"], lambda f: T_ITERS_VS_PYAMG, py),
    ]
    # Scaling: total time per unknown, large vs small, per family.
    by_family = {}
    for f, s, n, rows in results:
        by_family.setdefault(f.key, {})[s] = (n, total(rows.get(ours)))
    parts, ok = [], True
    for key, sizes in by_family.items():
        if "small" in sizes and "large" in sizes:
            (ns, ts), (nl, tl) = sizes["small"], sizes["large"]
            if ts is None or tl is None:
                parts.append(f"{key}: {solver} failed")
                ok = False
            else:
                ratio = (tl / nl) / (ts / ns)
                ok &= ratio <= T_SCALING
                parts.append(f"{key} {ratio:.2f}")
    name = f"{ours} total time per unknown, large ≤ {T_SCALING}× small (per family)"
    lines.append(f"- {mark(ok)} {name}: " + ", ".join(parts) if parts
                 else f"- – {name}: not evaluated (needs both sizes: --size both)")
    lines.append(per_matrix(f"{ours} operator complexity ≤ {T_OC[2]} (2-D) / ≤ {T_OC[3]} (3-D)",
                            lambda r, rows: r.get("oc"), lambda f: T_OC[f.dim]))
    if grid_results:
        parts, ok = [], True
        for grid, _, rows in grid_results:
            ta, tm = total(rows.get(ours)), total(rows.get("nabla mg-pcg"))
            if ta is None or tm is None:
                parts.append(f"{grid}: {solver if ta is None else 'mg-pcg'} failed")
                ok = False
            else:
                ok &= ta / tm <= T_VS_MG
                others = [f"{m.split()[0]} {total(rows[m]) / tm:.2f}" for m in ("amgcl sa+cg", "pyamg sa+cg")
                          if total(rows.get(m)) is not None]
                parts.append(f"{grid} {ta / tm:.2f}" + (f" ({', '.join(others)})" if others else ""))
        lines.append(f"- {mark(ok)} plain grids: {ours} total ≤ {T_VS_MG:g}× nabla mg-pcg total "
                     "(in brackets the other AMGs' totals / mg-pcg): " + ", ".join(parts))
    return lines


# ------------------------------------------------------------------------------------------------


def main(args):
    out_dir = Path(args.out_dir)
    out_amg = out_dir / "amg"
    families = [fe.FAMILIES[k] for k in args.families]
    use_amgcl = pyamgcl is not None and not args.no_amgcl
    if pyamgcl is None and not args.no_amgcl:
        print(f"WARNING: pyamgcl is not importable ({AMGCL_MISSING}); running without the AMGCL column",
              file=sys.stderr)

    metas = {}
    if args.generate_only:
        for f in families:
            for s in args.sizes:
                metas[(f.key, s)] = ensure_matrix(out_amg, f, s, args.regenerate)
        text = "\n".join(generation_lines(families, args.sizes, metas))
        print(text)
        return 0

    global MONITOR
    MONITOR = RunQueue()
    load_before = load_average()
    warm_up()
    failures, table, results = [], [], []
    for f in families:
        for s in args.sizes:
            meta = metas[(f.key, s)] = ensure_matrix(out_amg, f, s, args.regenerate)
            a_path, b_path, _ = matrix_paths(out_amg, f, s)
            label = f"{f.key} {s}"
            print(f"... {label}: {f.label}, {meta['unknowns']:,} unknowns", file=sys.stderr, flush=True)
            a, b = fe.read_matrix(a_path), fe.read_vector(b_path)
            if a.shape[0] != b.size:
                failures.append(f"{label}: matrix is {a.shape[0]}×{a.shape[1]} but rhs has {b.size} entries")
                continue
            rows = {}
            for solver in args.nabla_solvers:
                rows[f"nabla {solver}"] = nabla_row(
                    args, out_amg, f"{f.name}_{s}", ["--matrix", str(a_path), "--rhs-file", str(b_path)],
                    solver, a, b, failures, label)
            rows["pyamg sa+cg"] = reference_row(pyamg_sa, a, b, args, 1)
            if use_amgcl:
                rows["amgcl sa+cg"] = reference_row(amgcl_sa, a, b, args, args.threads)
            for method, r in rows.items():
                check_residual(r, args.tol, failures, label, method)
            table += table_rows(f"{f.key}: {f.label}, {s}", a.shape[0], a.nnz, rows)
            results.append((f, s, a.shape[0], rows))
            del a

    grid_results = []
    if args.grids:
        for grid in GRIDS:
            print(f"... grid {grid}", file=sys.stderr, flush=True)
            dims = parse_grid(grid)
            a, _ = grid_laplacian(dims)
            rows = {}
            for solver in dict.fromkeys([args.target_solver, "mg-pcg"]):
                row = nabla_row(args, out_amg, f"grid_{grid}", ["--grid", grid, "--rhs", "random", "--seed", "1"],
                                solver, a, None, failures, f"grid {grid}")
                row["read"] = None  # a grid is generated, not read
                rows[f"nabla {solver}"] = row
                check_residual(row, args.tol, failures, f"grid {grid}", f"nabla {solver}")
            # The AMGs we compare with, on the same operator (their own random rhs): where
            # geometric multigrid's margin over AMG is the method's, not our AMG's.
            b = np.random.default_rng(1).uniform(-1.0, 1.0, a.shape[0])
            rows["pyamg sa+cg"] = reference_row(pyamg_sa, a, b, args, 1)
            if use_amgcl:
                rows["amgcl sa+cg"] = reference_row(amgcl_sa, a, b, args, args.threads)
            for method in ("pyamg sa+cg", "amgcl sa+cg"):
                if method in rows:
                    check_residual(rows[method], args.tol, failures, f"grid {grid}", method)
            table += table_rows(f"grid {grid} (5/7-point)", a.shape[0], a.nnz, rows)
            grid_results.append((grid, a.shape[0], rows))

    header = ["family", "unknowns", "nonzeros", "method", "iterations", "rel. residual", "read s",
              "setup s", "solve s", "total s", "operator complexity", "total/pyamg", "total/amgcl",
              "iters/pyamg"]
    model, avx512 = cpu_info()
    threads = ",".join(str(t) for t in sorted(THREADS_SEEN, key=str)) or "?"
    amgcl_v = f"pyamgcl {version('pyamgcl')}" if use_amgcl else (
        "AMGCL skipped (--no-amgcl)" if args.no_amgcl else "AMGCL not available (pyamgcl did not build/import)")
    text = "\n".join([
        "# nabla AMG benchmark: unstructured FE Poisson matrices",
        "",
        f"Machine: {model}, {os.cpu_count()} cores, AVX-512: {avx512}.",
        f"Threads: nabla --threads {args.threads} (reported: {threads}), AMGCL OMP_NUM_THREADS="
        f"{os.environ['OMP_NUM_THREADS']}, pyamg single-threaded, OPENBLAS_NUM_THREADS="
        f"{os.environ['OPENBLAS_NUM_THREADS']}.",
        f"Software: Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pyamg {pyamg.__version__}, {amgcl_v}, scikit-fem {version('scikit-fem')}.",
        f"Solve: random rhs uniform in [−1, 1] (seeded per matrix), x0 = 0, tol {args.tol:g} on "
        f"‖b − A x‖/‖b‖, best of {args.repeat}. pyamg: smoothed_aggregation_solver(A) defaults, "
        f"solve(accel='cg'). AMGCL: {AMGCL_PRM} as CG preconditioner.",
        "",
        markdown_table(header, table, align="llrlrrrrrrrrrr"),
        "",
        "rel. residual = ‖b − A x‖/‖b‖ recomputed with scipy from each solver's x. read s = nabla's time "
        "to read the MatrixMarket files (not included in total). total = setup + solve. operator "
        "complexity = Σ nnz(A_l)/nnz(A_0) (levels in brackets). Ratios below 1 mean the row is "
        "faster / needs fewer iterations than the reference.",
        "",
        *contention_lines(results, grid_results, load_before, args.threads),
        "Targets:",
        *targets(args, results, grid_results, use_amgcl),
        "",
        *generation_lines(families, args.sizes, metas),
    ])
    print(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "amg_bench.md").write_text(text + "\n")
    if failures:
        print("\nCHECKS FAILED:\n" + "\n".join(f"- {f}" for f in failures))
        return 1
    print(f"\nAll runs passed (every recomputed residual ≤ {args.tol:g}·{RESIDUAL_SLACK}).")
    return 0


def load_average():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def contention_lines(results, grid_results, load_before, threads):
    busy = [f"{f.key} {s} {m} ({r['busy']:.1f})" for f, s, _, rows in results for m, r in rows.items() if r.get("busy")]
    busy += [f"grid {g} {m} ({r['busy']:.1f})" for g, _, rows in grid_results for m, r in rows.items() if r.get("busy")]
    q = MONITOR.overall() if MONITOR else None
    line = (f"Contention: load average {load_before} before, {load_average()} after; runnable threads "
            f"(/proc/stat procs_running, whole machine, sampler included) mean {q[0]:.1f}, max {q[1]} "
            f"over the run." if q else f"Contention: load average {load_before} before, {load_average()} after.")
    if busy:
        line += (" ‡ = timed while other processes competed for the cores (mean runnable threads above "
                 f"the run's own threads + 1.75): " + ", ".join(busy) + ". Those timings are unreliable "
                 "(AMGCL's OpenMP barriers suffer most); rerun on a quiet machine, or with --repeat 3.")
    return [line, ""]


def generation_lines(families, sizes, metas):
    lines = ["Matrices (benches/out/amg/, built by benches/make_fe_datasets.py with scikit-fem):", ""]
    rows = []
    for f in families:
        for s in sizes:
            m = metas.get((f.key, s))
            if not m:
                continue
            rows.append([f"{f.key}: {f.label}", s, f"{m['unknowns']:,}", f"{m['nonzeros']:,}",
                         f"{m['elements']:,}", f"{m['mesh_seconds']:.1f}", f"{m['assembly_seconds']:.1f}",
                         f"{m['write_seconds']:.1f}", f"{m['generate_seconds']:.1f}",
                         f"{m.get('matrix_bytes', 0) / 1e6:.0f}",
                         f"cached ({m.get('generated', '?')})" if m.get("cached") else "now"])
    lines.append(markdown_table(["family", "size", "unknowns", "nonzeros", "elements", "mesh s",
                                 "assembly s", "write s", "total s", "MB", "generated"], rows,
                                align="llrrrrrrrrl"))
    return lines


if __name__ == "__main__":
    sys.exit(main(ARGS))
