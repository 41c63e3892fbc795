#!/usr/bin/env python3
"""Benchmark nabla's PINN training against DeepXDE (PyTorch backend, CPU) on the same problem.

Run through benches/pinn_bench.sh (which builds nabla, prepares the venv with torch and deepxde
and sets DDE_BACKEND=pytorch). The problem (issue contract):

    -Δu = 2π² sin(πx) sin(πy) on [0,1]²,  u = 0 on ∂Ω,  exact u = sin(πx) sin(πy)

MLP 2-64-64-64-1, tanh, Glorot init, 2000 interior + 400 boundary collocation points (fixed,
random), relative L2 error on the 101×101 uniform grid (boundary included). Recipes:

  adam        both tools: Adam alone, lr 1e-3, 20000 steps;
  adam-lbfgs  both tools: DeepXDE's usual recipe, 2000 Adam steps (lr 1e-3), then L-BFGS (up to
              15000 iterations for DeepXDE; nabla runs its config's L-BFGS stage);
  shipped     each tool as its users run it: nabla's shipped config as it is (300 Adam steps,
              then L-BFGS) against DeepXDE's usual recipe (the adam-lbfgs run, reused when both
              recipes are asked for);
  short       both tools: nabla's shipped recipe, 300 Adam steps then L-BFGS — DeepXDE given the
              same short Adam phase, so that a win is not just the recipe.

nabla: `nabla train CONFIG --out RUN_DIR`, read back from RUN_DIR/metrics.csv (columns found by
name: step, seconds, rel_l2, and optimizer/stage when present). For `adam` the shipped config is
copied into the output folder with its [[train.optimizer]] list replaced by one Adam stage; for
`adam-lbfgs` and `short` a copy with its Adam stage set to the recipe's steps; for `shipped` the
shipped config as it is (a copy only when --max-* caps its stages); train.log_every is set to
--log-every either way.

DeepXDE: benches/pinn_deepxde.py, one subprocess per recipe, results cached in
benches/out/pinn_deepxde_<recipe>.json (reused by --skip-deepxde).

For each recipe and tool the table gives the time to reach rel L2 < 1e-2 and < 1e-3 (the first
logged point below; points are every --log-every steps, so the resolution is that many steps),
the final rel L2, the steps and the training seconds, and DeepXDE time / nabla time for each
threshold (> 1: nabla is faster). All timings are training wall seconds from the first step,
measurement included, on this machine; they move with the load on it (recorded in the JSON).
Everything goes to benches/out/pinn_bench.json and benches/out/pinn_bench.md.

Exits non-zero when a run fails or its output cannot be read.
"""

import argparse
import csv
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from common import markdown_table

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
THRESHOLDS = (1e-2, 1e-3)
# adam_steps: both tools' Adam steps (None for nabla: the shipped config's); deepxde: the
# DeepXDE run a recipe compares against (its own name where it has its own run).
RECIPES = {
    "adam": {
        "title": "(a) Adam alone, lr 1e-3, 20000 steps",
        "adam_steps": 20000,
        "deepxde_adam_steps": 20000,
        "lbfgs_iters": 0,
        "deepxde": "adam",
    },
    "adam-lbfgs": {
        "title": "(b) both: 2000 Adam steps (lr 1e-3) then L-BFGS (DeepXDE: maxiter 15000)",
        "adam_steps": 2000,
        "deepxde_adam_steps": 2000,
        "lbfgs_iters": 15000,
        "deepxde": "adam-lbfgs",
    },
    "shipped": {
        "title": "(c) as shipped: nabla's configs/pinn_poisson2d.toml against DeepXDE's usual "
                 "recipe (2000 Adam steps then L-BFGS)",
        "adam_steps": None,
        "deepxde_adam_steps": 2000,
        "lbfgs_iters": 15000,
        "deepxde": "adam-lbfgs",
    },
    "short": {
        "title": "(d) both: 300 Adam steps (lr 1e-3) then L-BFGS (DeepXDE: maxiter 15000)",
        "adam_steps": 300,
        "deepxde_adam_steps": 300,
        "lbfgs_iters": 15000,
        "deepxde": "short",
    },
}
LR = 1e-3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nabla", help="the nabla binary (pinn_bench.sh passes it)")
    p.add_argument("--config", default=str(ROOT / "configs" / "pinn_poisson2d.toml"),
                   help="nabla's PINN config (default configs/pinn_poisson2d.toml)")
    p.add_argument("--out-dir", default=str(BENCH_DIR / "out"))
    p.add_argument("--recipes", default="adam,adam-lbfgs,shipped,short",
                   help="comma-separated subset of: " + ", ".join(RECIPES))
    p.add_argument("--skip-deepxde", action="store_true",
                   help="reuse benches/out/pinn_deepxde_<recipe>.json from an earlier run "
                        "(with --only-deepxde: just reprint those)")
    p.add_argument("--only-deepxde", action="store_true", help="run DeepXDE only (no nabla)")
    p.add_argument("--max-adam-steps", type=int, default=None,
                   help="cap every Adam stage at N steps (both tools), to shorten the run")
    p.add_argument("--max-lbfgs-iters", type=int, default=None,
                   help="cap every L-BFGS stage at N iterations (both tools)")
    p.add_argument("--log-every", type=int, default=100,
                   help="steps between rel L2 measurements (default 100)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for DeepXDE (default 2)")
    p.add_argument("--seed", type=int, default=0, help="DeepXDE seed")
    p.add_argument("--nabla-set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra `--set KEY=VALUE` for nabla (repeatable)")
    a = p.parse_args(argv)
    a.recipes = [r.strip() for r in a.recipes.split(",") if r.strip()]
    bad = [r for r in a.recipes if r not in RECIPES]
    if bad or not a.recipes:
        p.error(f"unknown recipe(s) {bad}; choose from {list(RECIPES)}")
    if not a.only_deepxde and not a.nabla:
        p.error("--nabla is required unless --only-deepxde")
    for name in ("max_adam_steps", "max_lbfgs_iters"):
        v = getattr(a, name)
        if v is not None and v < 0:
            p.error(f"--{name.replace('_', '-')} must be ≥ 0")
    if a.log_every < 1:
        p.error("--log-every must be ≥ 1")
    return a


def cap(n, limit):
    return n if limit is None else min(n, limit)


def load_avg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ----------------------------------------------------------------------------------- DeepXDE


def deepxde_cache(out_dir, recipe):
    return out_dir / f"pinn_deepxde_{recipe}.json"


def run_deepxde(a, recipe, out_dir):
    """DeepXDE's run `recipe` (a key of RECIPES whose "deepxde" entry is itself)."""
    spec = RECIPES[recipe]
    out = deepxde_cache(out_dir, recipe)
    log = out_dir / f"pinn_deepxde_{recipe}.log"
    out.unlink(missing_ok=True)  # never report a stale result as this run's
    cmd = [
        sys.executable, str(BENCH_DIR / "pinn_deepxde.py"),
        "--recipe", "adam" if recipe == "adam" else "adam-lbfgs",
        "--adam-steps", str(cap(spec["deepxde_adam_steps"], a.max_adam_steps)),
        "--lbfgs-iters", str(cap(spec["lbfgs_iters"], a.max_lbfgs_iters)),
        "--lr", str(LR),
        "--log-every", str(a.log_every),
        "--threads", str(a.threads),
        "--seed", str(a.seed),
        "--out", str(out),
    ]
    env = dict(os.environ, DDE_BACKEND="pytorch")
    print(f"[deepxde] {recipe}: running (log: {log})", file=sys.stderr, flush=True)
    load = load_avg()
    t = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=BENCH_DIR)
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace")[-3000:]
        return None, f"DeepXDE {recipe} failed (exit {proc.returncode}); log tail:\n{tail}"
    res = json.loads(out.read_text())
    res["process_seconds"] = wall
    res["load_avg_before"] = load
    out.write_text(json.dumps(res, indent=1))
    return res, None


def load_deepxde(a, recipe, out_dir):
    out = deepxde_cache(out_dir, recipe)
    if not out.exists():
        return None, f"--skip-deepxde: no cached {out} (run once without it)"
    res = json.loads(out.read_text())
    spec = RECIPES[recipe]
    want = {
        "adam_steps": cap(spec["deepxde_adam_steps"], a.max_adam_steps),
        "lbfgs_iters": cap(spec["lbfgs_iters"], a.max_lbfgs_iters),
        "log_every": a.log_every,
    }
    got = {k: res.get("settings", {}).get(k) for k in want}
    if got != want:
        print(f"warning: cached DeepXDE {recipe} result was run with {got}, not {want}",
              file=sys.stderr)
    res["cached"] = True
    return res, None


# ------------------------------------------------------------------------------------- nabla


def find_column(fields, *names, contains=None):
    """The header field matching one of `names` (case/space-insensitive), else the first one
    containing all the substrings in `contains`; None when there is none."""
    norm = {f.strip().lower(): f for f in fields if f is not None}
    for n in names:
        if n in norm:
            return norm[n]
    if contains:
        for k, f in norm.items():
            if all(c in k for c in contains):
                return f
    return None


def to_float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_metrics(path):
    """nabla's metrics.csv -> list of {step, optimizer, stage, seconds, rel_l2, loss}."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        c_step = find_column(fields, "step")
        c_sec = find_column(fields, "seconds", "time", "wall_seconds")
        c_err = find_column(fields, "rel_l2", "rel_l2_error", "l2_rel", contains=("rel", "l2"))
        c_opt = find_column(fields, "optimizer")
        c_stage = find_column(fields, "stage")
        c_loss = find_column(fields, "loss")
        missing = [n for n, c in (("step", c_step), ("seconds", c_sec), ("rel_l2", c_err)) if not c]
        if missing:
            raise ValueError(f"{path}: no column(s) {missing} in header {fields}")
        rows = []
        for r in reader:
            if not r.get(c_step) or not r[c_step].strip():
                continue
            rows.append({
                "step": int(float(r[c_step])),
                "optimizer": (r.get(c_opt) or "").strip() if c_opt else None,
                "stage": int(float(r[c_stage])) if c_stage and r.get(c_stage) else None,
                "seconds": to_float(r[c_sec]),
                "rel_l2": to_float(r[c_err]),
                "loss": to_float(r[c_loss]) if c_loss else None,
            })
    if not rows:
        raise ValueError(f"{path}: no data rows")
    return rows


def mark_early_stops(rows, log_every):
    """A stage that stops early (L-BFGS converged) logs its last row at the stage's nominal end,
    so a gap wider than log_every means that row's real step is at most the previous logged step
    + log_every. Such rows get that bound as `step` (`step_logged` keeps the logged value,
    `step_is_bound` flags them). Rows after a stage that stopped early keep nabla's numbering."""
    for prev, row in zip(rows, rows[1:]):
        if row["step"] - prev["step"] > log_every:
            row["step_logged"] = row["step"]
            row["step"] = prev["step"] + log_every
            row["step_is_bound"] = True


def nabla_steps(rows):
    """(steps, note) from rows passed through mark_early_stops."""
    last = rows[-1]
    if last.get("step_is_bound"):
        return last["step"], f"≤{last['step']} (stopped early)"
    return last["step"], str(last["step"])


def stages_of(cfg):
    train = cfg.get("train", {})
    return train.get("optimizer", [])


def write_toml(cfg, path):
    try:
        import tomli_w
    except ImportError:
        sys.exit("tomli_w is missing: pinn_bench.sh installs it (pip install tomli_w)")
    path.write_text(tomli_w.dumps(cfg))


def nabla_config(a, recipe, out_dir):
    """(config path, extra --set args, stages) for this recipe."""
    shipped = Path(a.config)
    cfg = tomllib.loads(shipped.read_text())
    if "train" not in cfg or not isinstance(cfg["train"].get("optimizer"), list):
        raise ValueError(f"{shipped}: no [[train.optimizer]] list")
    spec = RECIPES[recipe]
    if recipe == "adam":
        cfg["train"]["optimizer"] = [
            {"kind": "adam", "steps": cap(spec["adam_steps"], a.max_adam_steps), "lr": LR}
        ]
        modified = True
    else:
        modified = False
        for st in cfg["train"]["optimizer"]:
            kind = st.get("kind")
            if kind == "adam" and spec["adam_steps"] is not None:
                st["steps"] = spec["adam_steps"]
                st["lr"] = LR
                modified = True
            if kind == "adam" and a.max_adam_steps is not None and st.get("steps", 0) > a.max_adam_steps:
                st["steps"] = a.max_adam_steps
                modified = True
            if kind == "lbfgs" and a.max_lbfgs_iters is not None and st.get("iterations", 0) > a.max_lbfgs_iters:
                st["iterations"] = a.max_lbfgs_iters
                modified = True
    if modified:
        cfg["train"]["log_every"] = a.log_every
        path = out_dir / f"pinn_nabla_{recipe}.toml"
        write_toml(cfg, path)
        return path, [], stages_of(cfg)
    return shipped, [f"train.log_every={a.log_every}"], stages_of(cfg)


def run_nabla(a, recipe, out_dir):
    try:
        cfg_path, sets, stages = nabla_config(a, recipe, out_dir)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as e:
        return None, f"nabla {recipe}: cannot prepare the config: {e}"
    run_dir = out_dir / f"pinn_nabla_{recipe}"
    log = out_dir / f"pinn_nabla_{recipe}.log"
    # A fresh run directory: a leftover metrics.csv or checkpoint would be resumed or reported.
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = [str(a.nabla), "train", str(cfg_path), "--out", str(run_dir)]
    for s in sets + a.nabla_set:
        cmd += ["--set", s]
    print(f"[nabla] {recipe}: {' '.join(cmd)} (log: {log})", file=sys.stderr, flush=True)
    load = load_avg()
    t = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    wall = time.perf_counter() - t
    metrics = run_dir / "metrics.csv"
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        return None, f"nabla {recipe} failed (exit {proc.returncode}); log tail:\n{tail}"
    try:
        rows = read_metrics(metrics)
    except (OSError, ValueError) as e:
        return None, f"nabla {recipe}: {e}"
    mark_early_stops(rows, a.log_every)
    steps, steps_note = nabla_steps(rows)
    return {
        "tool": "nabla",
        "recipe": recipe,
        "command": cmd,
        "config": str(cfg_path),
        "stages": stages,
        "steps": steps,
        "steps_note": steps_note,
        "total_seconds": rows[-1]["seconds"],
        "process_seconds": wall,
        "load_avg_before": load,
        "final_rel_l2": rows[-1]["rel_l2"],
        "records": rows,
    }, None


# ----------------------------------------------------------------------------------- summary


def time_to(records, thr):
    """(seconds, step label) of the first record below thr, or (None, None)."""
    for r in records:
        if r["rel_l2"] < thr:  # NaN compares False
            return r["seconds"], ("≤" if r.get("step_is_bound") else "") + str(r["step"])
    return None, None


def summarize(res):
    if res is None:
        return None
    s = {
        "steps": res["steps"],
        "steps_note": res.get("steps_note", str(res["steps"])),
        "total_seconds": res["total_seconds"],
        "final_rel_l2": res["final_rel_l2"],
        "best_rel_l2": min((r["rel_l2"] for r in res["records"]), default=math.nan),
    }
    for thr in THRESHOLDS:
        sec, step = time_to(res["records"], thr)
        s[f"time_to_{thr:g}"] = sec
        s[f"step_to_{thr:g}"] = step
    return s


def ratio(dx, nb, thr):
    """(value or None, text) of DeepXDE time / nabla time to reach thr."""
    key = f"time_to_{thr:g}"
    td = dx.get(key) if dx else None
    tn = nb.get(key) if nb else None
    if dx is None or nb is None:
        return None, "—"
    if td is not None and tn is not None:
        if tn <= 0:
            return None, "n/a (nabla time 0)"
        return td / tn, f"{td / tn:.2f}x"
    if tn is not None:
        return None, "DeepXDE not reached"
    if td is not None:
        return None, "nabla not reached"
    return None, "neither reached"


def fmt_time(sec, step):
    return "not reached" if sec is None else f"{sec:.1f} (step {step})"


def table_rows(recipe, summaries):
    rows = []
    for tool in ("nabla", "deepxde"):
        s = summaries.get(tool)
        if s is None:
            continue
        rows.append([
            tool,
            *(fmt_time(s[f"time_to_{t:g}"], s[f"step_to_{t:g}"]) for t in THRESHOLDS),
            f"{s['final_rel_l2']:.2e}",
            s["steps_note"],
            f"{s['total_seconds']:.1f}",
        ])
    return rows


def main(argv=None):
    a = parse_args(argv)
    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    report = {
        "problem": "-Δu = 2π² sin(πx) sin(πy) on [0,1]², u=0 on ∂Ω; MLP 2-64-64-64-1 tanh; "
                   "2000+400 collocation points; rel L2 on the 101×101 grid",
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "thresholds": list(THRESHOLDS),
        "log_every": a.log_every,
        "max_adam_steps": a.max_adam_steps,
        "max_lbfgs_iters": a.max_lbfgs_iters,
        "recipes": {},
    }
    md = []
    deepxde_runs = {}  # DeepXDE results of this invocation, by run name
    for recipe in a.recipes:
        results = {}
        if not a.only_deepxde:
            res, err = run_nabla(a, recipe, out_dir)
            if err:
                errors.append(err)
                print(f"error: {err}", file=sys.stderr)
            results["nabla"] = res
        dx_name = RECIPES[recipe]["deepxde"]
        if dx_name in deepxde_runs:
            res, err = deepxde_runs[dx_name], None
        elif a.skip_deepxde:
            res, err = load_deepxde(a, dx_name, out_dir)
        else:
            res, err = run_deepxde(a, dx_name, out_dir)
        if err:
            errors.append(err)
            print(f"error: {err}", file=sys.stderr)
        else:
            deepxde_runs[dx_name] = res
        results["deepxde"] = res

        summaries = {tool: summarize(r) for tool, r in results.items()}
        ratios = {}
        ratio_text = []
        for thr in THRESHOLDS:
            v, text = ratio(summaries.get("deepxde"), summaries.get("nabla"), thr)
            ratios[f"{thr:g}"] = v
            ratio_text.append(f"{thr:g}: {text}")
        report["recipes"][recipe] = {
            "title": RECIPES[recipe]["title"],
            "summary": summaries,
            "deepxde_over_nabla_time": ratios,
            "runs": results,
        }

        title = RECIPES[recipe]["title"]
        nb = results.get("nabla")
        if nb:
            title += f"; nabla stages: {json.dumps(nb['stages'])}"
            adam = [st for st in nb["stages"] if st.get("kind") == "adam"]
            want = cap(RECIPES[recipe]["deepxde_adam_steps"], a.max_adam_steps)
            if not adam or adam[0].get("steps") != want or adam[0].get("lr", LR) != LR:
                note = (f"note: nabla's Adam stage is not DeepXDE's ({want} steps, lr {LR:g}); "
                        "the two runs do not follow the same recipe")
                print(note, file=sys.stderr)
                title += f"\n\n{note}"
        header = ["tool", "time to 1e-2 (s)", "time to 1e-3 (s)", "final rel L2", "steps",
                  "total s"]
        rows = table_rows(recipe, summaries)
        md.append(f"### {title}\n")
        md.append(markdown_table(header, rows, "lrrrrr") if rows else "(no results)")
        if not a.only_deepxde:
            md.append(f"\nDeepXDE time / nabla time (> 1: nabla faster): " + "; ".join(ratio_text))
        dx = results.get("deepxde")
        if dx:
            md.append(f"\nDeepXDE {dx.get('deepxde_version')} / torch {dx.get('torch_version')}, "
                      f"{dx.get('threads')} threads, {dx.get('dtype')}"
                      + (" (cached result)" if dx.get("cached") else ""))
        loads = [f"{tool} {r.get('load_avg_before')}" for tool, r in results.items() if r]
        if loads:
            md.append("Load average (1, 5, 15 min) before each run: " + ", ".join(loads))
        md.append("")

    text = "\n".join(md)
    print(text)
    (out_dir / "pinn_bench.md").write_text(text + "\n")
    report["errors"] = errors
    (out_dir / "pinn_bench.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out_dir / 'pinn_bench.json'} and {out_dir / 'pinn_bench.md'}", file=sys.stderr)
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
