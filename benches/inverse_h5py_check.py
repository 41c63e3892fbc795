"""h5py <-> nabla check of the inverse-problem layouts (see inverse_h5py_check.sh)."""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

FAILURES = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        FAILURES.append(what)


def run(nabla, *args, expect_ok=True):
    p = subprocess.run([nabla, *args], capture_output=True, text=True)
    if expect_ok and p.returncode != 0:
        print(p.stdout, p.stderr)
        raise SystemExit(f"nabla {' '.join(args)} failed")
    return p


def params_from_name(name):
    return {k: float(v) for k, v in re.findall(r"([A-Za-z]+)=([-+0-9.eE]+?)(?=_|\.h5$)", name)}


def check_rd(folder):
    files = [(s, f) for s in sorted(os.listdir(folder)) for f in sorted(os.listdir(os.path.join(folder, s)))]
    check(len(files) > 0, f"reaction-diffusion: {len(files)} files")
    for split, name in files:
        with h5py.File(os.path.join(folder, split, name), "r") as h:
            seeds = sorted(h.keys())
            check(seeds == [f"{i:04d}" for i in range(len(seeds))], f"rd {split}/{name}: seed groups {seeds}")
            d = h["0000/data"]
            check(d.dtype == np.float32 and d.ndim == 4 and d.shape[3] == 2, f"rd data {d.shape} {d.dtype}")
            t, sx, sy, _ = d.shape
            check(h["0000/grid/x"].shape == (sx,) and h["0000/grid/y"].shape == (sy,) and h["0000/grid/t"].shape == (t,), "rd grid/x, grid/y, grid/t lengths")
            x = h["0000/grid/x"][:]
            check(np.allclose(x, -1 + (np.arange(sx) + 0.5) * 2 / sx, atol=1e-6), "rd grid/x = cell centres of [-1, 1]")
            p = params_from_name(name)
            check(set(p) == {"k", "Du", "Dv"} and all(float(h.attrs[k]) == v for k, v in p.items()),
                  f"rd attributes k, Du, Dv equal the file name {p}")
            check(all(np.isfinite(h[f"{s}/data"][:]).all() for s in seeds), "rd data finite")


def check_kdv(folder):
    files = [(s, f) for s in sorted(os.listdir(folder)) for f in sorted(os.listdir(os.path.join(folder, s)))]
    check(len(files) > 0, f"kdv: {len(files)} files")
    for split, name in files:
        with h5py.File(os.path.join(folder, split, name), "r") as h:
            check(sorted(h.keys()) == ["t-coordinate", "tensor", "x-coordinate"], f"kdv {split}/{name}: datasets {sorted(h.keys())}")
            u = h["tensor"][:]
            check(u.dtype == np.float32 and u.ndim == 3, f"kdv tensor {u.shape} {u.dtype}")
            check(h["x-coordinate"].shape == (u.shape[2],) and h["t-coordinate"].shape == (u.shape[1],), "kdv coordinates")
            check(float(h.attrs["delta"]) == params_from_name(name)["delta"], "kdv attribute delta equals the file name")
            mass = u.astype(np.float64).mean(axis=2)
            drift = np.abs(mass - mass[:, :1]).max() / np.sqrt((u[:, 0].astype(np.float64) ** 2).mean())
            check(drift < 1e-6, f"kdv mass conserved in the saved frames (numpy): drift {drift:.1e}")


def check_darcy(folder):
    n = 0
    for split in sorted(os.listdir(folder)):
        for name in sorted(os.listdir(os.path.join(folder, split))):
            n += 1
            with h5py.File(os.path.join(folder, split, name), "r") as h:
                a = h["coeff"][:, :, 0].astype(np.float64)
                u = h["sol"][:, :, 0].astype(np.float64)
                check(h["coeff"].dtype == np.float32 and h["sol"].shape == h["coeff"].shape, f"darcy {split}/{name}: coeff, sol {h['coeff'].shape}")
                s = a.shape[0]
                hh = 1.0 / (s - 1)
                c = a[1:-1, 1:-1]
                fx_p = 0.5 * (c + a[2:, 1:-1]) * (u[2:, 1:-1] - u[1:-1, 1:-1])
                fx_m = 0.5 * (c + a[:-2, 1:-1]) * (u[1:-1, 1:-1] - u[:-2, 1:-1])
                fy_p = 0.5 * (c + a[1:-1, 2:]) * (u[1:-1, 2:] - u[1:-1, 1:-1])
                fy_m = 0.5 * (c + a[1:-1, :-2]) * (u[1:-1, 1:-1] - u[1:-1, :-2])
                res = -(fx_p - fx_m + fy_p - fy_m) / hh**2 - 1.0
                rel = np.linalg.norm(res) / np.sqrt(res.size)
                check(rel < 1e-3, f"darcy residual of -div(a grad u) = 1 recomputed in numpy from float32 data: {rel:.1e}")
                r = float((a == a.max()).mean())
                check(abs(float(h.attrs["r"]) - r) < 1e-12, "darcy attribute r = fraction at the high value")
    check(n > 0, f"darcy: {n} files")


def h5py_written(nabla, root):
    """Files in the layouts written by h5py load in nabla; bad ones fail cleanly."""
    rng = np.random.default_rng(0)
    ds = os.path.join(root, "h5py_rd")
    for split, k in [("train", 0.02), ("test", 0.03), ("out_of_distribution", 0.06), ("out_of_distribution_extreme", 0.095)]:
        os.makedirs(os.path.join(ds, split), exist_ok=True)
        # PDEInvBench's own names carry no prefix.
        with h5py.File(os.path.join(ds, split, f"Du=0.1_Dv=0.2_k={k}.h5"), "w") as h:
            for s in ["0001", "0002"]:
                h[f"{s}/data"] = rng.standard_normal((5, 8, 8, 2))  # float64
                h[f"{s}/grid/x"] = np.linspace(-1, 1, 8)
                h[f"{s}/grid/y"] = np.linspace(-1, 1, 8)
                h[f"{s}/grid/t"] = np.linspace(0, 5, 5)
    p = run(nabla, "inspect", ds)
    check("PDEBench per-seed" in p.stdout and "out_of_distribution_extreme/" in p.stdout and "k in [0.095, 0.095]" in p.stdout,
          "nabla inspect reads an h5py-written reaction-diffusion folder (float64, seeds from 0001)")
    f = os.path.join(root, "1D_KdV_delta=2.5.h5")
    with h5py.File(f, "w") as h:
        h["tensor"] = rng.standard_normal((3, 7, 16)).astype(np.float32)
        h["x-coordinate"] = np.linspace(0, 1, 16, dtype=np.float32)
        h["t-coordinate"] = np.linspace(0, 1, 8, dtype=np.float32)  # PDEBench's t + 1 entries
        h.attrs["delta"] = 2.5
    p = run(nabla, "inspect", f)
    check("tensor [N, t, x] = [3, 7, 16] f32" in p.stdout and "delta = 2.5" in p.stdout, "nabla inspect reads an h5py-written KdV tensor file")
    f = os.path.join(root, "sample_0007.h5")
    with h5py.File(f, "w") as h:
        h["coeff"] = np.full((9, 9), 3.0)
        h["sol"] = np.zeros((9, 9))
    p = run(nabla, "inspect", f)
    check("PDEInvBench Darcy sample: coeff and sol [9, 9, 1]" in p.stdout, "nabla inspect reads an h5py-written Darcy sample ([S, S] float64)")

    bad = {
        "missing.h5": lambda h: h.create_dataset("0000/grid/x", data=np.zeros(4)) and h.create_dataset("0001/data", data=np.zeros((2, 4, 4, 2))),
        "rank.h5": lambda h: h.create_dataset("tensor", data=np.zeros((2, 3, 4, 5))),
        "dtype.h5": lambda h: h.create_dataset("tensor", data=np.zeros((2, 3, 4), dtype=np.int16)),
        "2D_diff-react_Du=0.1_Dv=0.2_kk=0.05.h5": lambda h: h.create_dataset("0000/data", data=np.zeros((2, 4, 4, 2))),
    }
    expect = {
        "missing.h5": "no dataset",
        "rank.h5": "expected [N, t, x]",
        "dtype.h5": "element type i16",
        "2D_diff-react_Du=0.1_Dv=0.2_kk=0.05.h5": "unknown parameter 'kk'",
    }
    for name, make in bad.items():
        f = os.path.join(root, name)
        with h5py.File(f, "w") as h:
            make(h)
        p = run(nabla, "inspect", f, expect_ok=False)
        err = p.stderr.strip()
        check(p.returncode == 1 and err.count("\n") == 0 and f in err and expect[name] in err, f"bad file {name}: exit {p.returncode}, '{err}'")
    trunc = os.path.join(root, "truncated.h5")
    with open(os.path.join(root, "1D_KdV_delta=2.5.h5"), "rb") as src:
        blob = src.read()
    with open(trunc, "wb") as dst:
        dst.write(blob[: len(blob) // 2])
    p = run(nabla, "inspect", trunc, expect_ok=False)
    check(p.returncode == 1 and "cannot read HDF5 file" in p.stderr, f"truncated file: '{p.stderr.strip()}'")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nabla", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        small = ["--train", "2", "--validation", "1", "--test", "1", "--ood", "1", "--extreme", "1", "--trajectories", "2", "--quiet"]
        rd = os.path.join(root, "rd")
        run(args.nabla, "datagen", "reaction-diffusion", "--resolution", "16", "--steps", "6", "--t-final", "0.5", "--burn-in", "0.5", *small, "--out", rd)
        check_rd(rd)
        kdv = os.path.join(root, "kdv")
        run(args.nabla, "datagen", "kdv", "--resolution", "64", "--length", "32", "--steps", "6", "--t-final", "2", "--burn-in", "1", *small, "--out", kdv)
        check_kdv(kdv)
        darcy = os.path.join(root, "darcy")
        run(args.nabla, "datagen", "darcy-inverse", "--resolution", "24", "--samples", "20", "--quiet", "--out", darcy)
        check_darcy(darcy)
        h5py_written(args.nabla, root)
    print(f"\n{'all checks passed' if not FAILURES else f'{len(FAILURES)} checks FAILED'} (h5py {h5py.__version__})")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
