#!/usr/bin/env python3
"""Hostile-input sweep for the `nabla` CLI (issue 20, "Hardening").

Runs several hundred bad or edge-case inputs across every subcommand, each in a fresh
temporary directory, under an 8 GiB address-space limit (as `ulimit -v 8G`) and a wall-clock
timeout, and classifies every case:

  PANIC          exit code 101, or "panicked" on stderr
  HANG           ran past its timeout (killed)
  ABORT/SIGNAL   killed by a signal (SIGABRT from a failed allocation, SIGSEGV, ...)
  INPUT-CHANGED  a file the case created before the run (an input) changed or vanished
  PARTIAL        non-zero exit that left a new file or directory in the case directory
                 (`poisson` exit 3, "stopped at --max-iters, outputs written", and exit 130
                 after Ctrl-C, "checkpoint kept", are documented and exempt)
  MULTILINE      non-zero exit whose stderr is not exactly one line starting with "error: "
                 (exit 2 = clap usage error may be multi-line: counted OK)
  EXPECTATION    the case states what must happen and it did not: an invalid input accepted
                 with exit 0, a valid one refused, stdout on /dev/full not "exit 1 + one
                 line", a closed stdout pipe not "exit 0 + empty stderr", Ctrl-C exiting 0
  MESSAGE        the one-line error names the wrong cause (a few cases carry a regex), names
                 an internal temporary file, or prints a float as a run of 60+ digits
  OK             none of the above

A case may have several tags; it is counted under the first in the order above.

Python 3 standard library only. Usage:

  scripts/hostile_sweep.py                       # everything, 2 jobs
  scripts/hostile_sweep.py --filter wos --jobs 1 # the cases whose name contains "wos"
  scripts/hostile_sweep.py --list                # list the cases, run nothing

Every case runs in a fresh directory under one temporary root (removed at the end; --keep
copies the non-OK ones); small valid fixtures (HDF5 files, data folders, tiny trained runs) are
made once with the binary under test. Runtime: about 1.5 minutes on 2 cores.

Exit status: 0 if every case is OK, 1 otherwise (2 if the fixtures could not be built).
"""

import argparse
import collections
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs")
DATASETS = os.path.join(REPO, "datasets")
GIB = 1 << 30
AS_LIMIT = 8 * GIB
FSIZE_LIMIT = 4 * GIB  # safety net against a runaway writer filling the disk

CLASS_ORDER = ["PANIC", "HANG", "ABORT/SIGNAL", "INPUT-CHANGED", "PARTIAL", "MULTILINE",
               "EXPECTATION", "MESSAGE", "OK"]


# --------------------------------------------------------------------------------------------
# Case description
# --------------------------------------------------------------------------------------------

class Case:
    """One command line plus the files it needs.

    files: relative path -> bytes | str | ("fx", fixture name) | ("dir",) | ("symlink", target)
           | ("hardlink", other relative path) | ("copy", absolute path)
    mutable: relative paths that the command is allowed to change (not checked as inputs)
    stdout: "capture" | "devfull" | "closedpipe"
    expect: None | "error" (must exit non-zero) | "ok" (must exit 0)
    forbid / require: regexes on stderr -> MESSAGE
    partial_ok: exit codes whose outputs are documented (exempt from PARTIAL)
    sigint_after: seconds after which SIGINT goes to the process group (Ctrl-C)
    fsize: a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored): writes beyond it fail with EFBIG,
           standing in for a full disk
    stdout_silent: the command writes nothing to stdout (its summary goes to stderr), so a full
           or closed stdout must not change anything: exit 0
    """

    def __init__(self, name, sub, args, files=None, timeout=None, stdout="capture", expect=None,
                 forbid=None, require=None, partial_ok=(), sigint_after=None, mutable=(),
                 env=None, note="", fsize=None, stdout_silent=False, multiline_ok=False,
                 expect_rc=None):
        self.name = name
        self.sub = sub
        self.args = [str(a) for a in args]
        self.files = files or {}
        self.timeout = timeout
        self.stdout = stdout
        self.expect = expect
        self.forbid = forbid
        self.require = require
        self.partial_ok = tuple(partial_ok)
        self.sigint_after = sigint_after
        self.mutable = set(mutable)
        self.env = env or {}
        self.note = note
        self.fsize = fsize              # RLIMIT_FSIZE in bytes: writes past it fail (EFBIG)
        self.stdout_silent = stdout_silent  # the command prints its summary on stderr
        self.multiline_ok = multiline_ok
        self.expect_rc = expect_rc      # the exact exit code required (overrides expect)


def mm(entries, rows=3, cols=None, nnz=None, field="real", sym="general", fmt="coordinate",
       banner=None, size=None, extra=""):
    """A MatrixMarket file as text. entries: list of (i, j, v) (v may be a str), 1-based."""
    cols = rows if cols is None else cols
    nnz = len(entries) if nnz is None else nnz
    if banner is None:
        banner = f"%%MatrixMarket matrix {fmt} {field} {sym}"
    if size is None:
        size = f"{rows} {cols} {nnz}"
    lines = [banner, "% hostile_sweep", size]
    for e in entries:
        lines.append(" ".join(str(x) for x in e))
    return "\n".join(lines) + "\n" + extra


def mm_array(values, rows=None, cols=1, field="real", sym="general"):
    rows = len(values) if rows is None else rows
    lines = [f"%%MatrixMarket matrix array {field} {sym}", f"{rows} {cols}"]
    lines += [str(v) for v in values]
    return "\n".join(lines) + "\n"


def tridiag(n, diag=4, off=-1, sym=True):
    e = []
    for i in range(1, n + 1):
        e.append((i, i, diag))
        if i > 1:
            e.append((i, i - 1, off))
            if not sym:
                e.append((i - 1, i, off))
    return e


def garbage(n, seed):
    """Deterministic pseudo-random bytes (xorshift), no imports needed."""
    x = (seed * 2654435761 + 12345) & 0xFFFFFFFFFFFFFFFF or 1
    out = bytearray()
    for _ in range(n):
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        out.append(x & 0xFF)
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Fixtures: small valid files made once with the binary under test
# --------------------------------------------------------------------------------------------

FIXTURE_CMDS = [
    # (name, args, produced path relative to the fixture dir)
    ("darcy16.h5", ["datagen", "darcy", "--resolution", "16", "--samples", "6", "--out",
                    "darcy16.h5", "--quiet"]),
    ("darcy32.h5", ["datagen", "darcy", "--resolution", "32", "--samples", "2", "--out",
                    "darcy32.h5", "--quiet"]),
    ("burgers.h5", ["datagen", "burgers", "--resolution", "32", "--samples", "4", "--steps", "5",
                    "--out", "burgers.h5", "--quiet"]),
    ("sol.h5", ["poisson", "--grid", "8x8", "--out", "sol.h5", "--quiet"]),
    ("sol3d.h5", ["poisson", "--grid", "4x4x4", "--out", "sol3d.h5", "--quiet"]),
    ("solmat.h5", ["poisson", "--matrix", os.path.join(DATASETS, "poisson2d_16x16.mtx"),
                   "--out", "solmat.h5", "--quiet"]),
    ("kdv", ["datagen", "kdv", "--out", "kdv", "--train", "1", "--validation", "1", "--test",
             "1", "--ood", "1", "--extreme", "1", "--trajectories", "1", "--quiet"]),
    ("rd", ["datagen", "reaction-diffusion", "--out", "rd", "--resolution", "8", "--train", "1",
            "--validation", "1", "--test", "1", "--ood", "1", "--extreme", "1",
            "--trajectories", "1", "--steps", "3", "--quiet"]),
    ("di", ["datagen", "darcy-inverse", "--out", "di", "--resolution", "8", "--samples", "8",
            "--quiet"]),
    ("pinn_run", ["train", os.path.join(CONFIGS, "pinn_poisson2d.toml"),
                  "--set", 'train.optimizer=[{kind="adam",steps=5,lr=1e-3}]',
                  "--set", "sampling.interior=50", "--set", "sampling.boundary=20",
                  "--set", "eval.grid=11", "--out", "pinn_run"]),
    ("op_run", ["train", os.path.join(CONFIGS, "fno_darcy.toml"), "--set",
                "data.file=darcy16.h5", "--set", "data.train=4", "--set", "data.test=2",
                "--set", "train.epochs=1", "--set", "train.batch_size=2", "--set",
                "model.width=4", "--set", "model.modes=[4]", "--set", "model.projection=8",
                "--out", "op_run"]),
    ("op1d_run", ["train", os.path.join(CONFIGS, "fno_burgers.toml"), "--set",
                  "data.file=burgers.h5", "--set", "data.train=2", "--set", "data.test=2",
                  "--set", "data.subsample=1", "--set", "train.epochs=1", "--set",
                  "train.batch_size=2", "--set", "model.width=4", "--set", "model.modes=[4]",
                  "--set", "model.projection=8", "--out", "op1d_run"]),
    ("dcdm_run", ["train", os.path.join(CONFIGS, "dcdm_poisson64.toml"), "--set",
                  'grid="16x16"', "--set", "data.file=dcdm_data.h5", "--set",
                  "data.lanczos_steps=20", "--set", "data.samples=16", "--set",
                  "train.steps=2", "--set", "train.validation=2", "--set", "model.levels=2",
                  "--set", "model.channels=4", "--out", "dcdm_run"]),
]


def limits(fsize=FSIZE_LIMIT):
    os.setsid()
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))


def build_fixtures(binary, fxdir):
    env = dict(os.environ)
    for name, args in FIXTURE_CMDS:
        p = subprocess.run([binary] + args, cwd=fxdir, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, preexec_fn=limits, timeout=120, env=env)
        if p.returncode != 0 or not os.path.exists(os.path.join(fxdir, name)):
            raise RuntimeError(f"fixture {name} failed (exit {p.returncode}): "
                               f"{p.stderr.decode(errors='replace')[:300]}")
    # Derived HDF5 files: Darcy `nu` patched in place (the dataset is contiguous f32 values
    # 3.0 / 12.0), truncated and corrupted copies, the PDEBench-style KdV name.
    d = open(os.path.join(fxdir, "darcy16.h5"), "rb").read()
    m = max(re.finditer(rb"(?:\x00\x00\x40\x41|\x00\x00\x40\x40){64,}", d),
            key=lambda m: m.end() - m.start(), default=None)
    if m is None:
        raise RuntimeError("could not locate the nu dataset in darcy16.h5")
    a, b = m.start(), m.end()
    nan = bytearray(d)
    nan[a:b] = b"\x00\x00\xc0\x7f" * ((b - a) // 4)
    inf = bytearray(d)
    inf[a:a + 4] = b"\x00\x00\x80\x7f"
    huge = bytearray(d)
    huge[a:b] = b"\xff\xff\x7f\x7f" * ((b - a) // 4)  # f32::MAX
    neg = bytearray(d)
    neg[a:b] = b"\x00\x00\x40\xc1" * ((b - a) // 4)   # -12.0
    for name, data in [("darcy16_nan.h5", nan), ("darcy16_inf.h5", inf),
                       ("darcy16_huge.h5", huge), ("darcy16_neg.h5", neg),
                       ("darcy16_trunc.h5", d[: len(d) // 2]),
                       ("darcy16_head.h5", d[:100]),
                       ("darcy16_zero.h5", bytes(len(d))),
                       ("darcy16_sb.h5", d[:8] + garbage(64, 7) + d[72:]),
                       ("darcy16_flip.h5", bytes(c ^ 0x5A if 600 <= i < 4000 else c
                                                 for i, c in enumerate(d)))]:
        with open(os.path.join(fxdir, name), "wb") as f:
            f.write(data)
    kdv_files = []
    for root, _, fs in os.walk(os.path.join(fxdir, "kdv")):
        kdv_files += [os.path.join(root, f) for f in fs if f.endswith(".h5")]
    shutil.copy(sorted(kdv_files)[0], os.path.join(fxdir, "kdv1.h5"))
    # a PINN run whose checkpoint is garbage / truncated, an operator run with a PINN checkpoint
    for name, src in [("pinn_badckpt", "pinn_run"), ("pinn_truncckpt", "pinn_run"),
                      ("op_wrongckpt", "op_run"), ("pinn_noconfig", "pinn_run"),
                      ("pinn_nockpt", "pinn_run"), ("pinn_badconfig", "pinn_run")]:
        shutil.copytree(os.path.join(fxdir, src), os.path.join(fxdir, name))
    ck = os.path.join(fxdir, "pinn_badckpt", "checkpoint.safetensors")
    open(ck, "wb").write(garbage(4096, 3))
    ck = os.path.join(fxdir, "pinn_truncckpt", "checkpoint.safetensors")
    data = open(ck, "rb").read()
    open(ck, "wb").write(data[: len(data) // 2])
    shutil.copy(os.path.join(fxdir, "pinn_run", "checkpoint.safetensors"),
                os.path.join(fxdir, "op_wrongckpt", "checkpoint.safetensors"))
    os.remove(os.path.join(fxdir, "pinn_noconfig", "config.toml"))
    os.remove(os.path.join(fxdir, "pinn_nockpt", "checkpoint.safetensors"))
    open(os.path.join(fxdir, "pinn_badconfig", "config.toml"), "w").write("task = [\n")
    # a run of the previous release (no self-description in its checkpoint) without / with a
    # broken config.toml: then nothing describes the model
    for name in ("pinn_old_noconfig", "pinn_old_badconfig"):
        shutil.copytree(os.path.join(REPO, "datasets", "runs", "pinn_v0.1"),
                        os.path.join(fxdir, name))
    os.remove(os.path.join(fxdir, "pinn_old_noconfig", "config.toml"))
    open(os.path.join(fxdir, "pinn_old_badconfig", "config.toml"), "w").write("task = [\n")


# --------------------------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------------------------

def build_cases():
    cases = []
    names = set()

    def add(name, sub, args, **kw):
        if name in names:
            raise SystemExit(f"duplicate case name {name}")
        flags = [a for a in args if a.startswith("--") and a not in ("--set",)]
        dup = {f for f in flags if flags.count(f) > 1}
        if dup and not kw.pop("dup_ok", False):
            # clap refuses a repeated flag before anything else is checked
            raise SystemExit(f"case {name} repeats {sorted(dup)}")
        names.add(name)
        cases.append(Case(name, sub, args, **kw))

    BOX = "box:min=0,0;max=1,1"
    SPD3 = mm(tridiag(3), sym="symmetric")
    P16 = ("copy", os.path.join(DATASETS, "poisson2d_16x16.mtx"))
    P16RHS = ("copy", os.path.join(DATASETS, "poisson2d_16x16_rhs.mtx"))
    MASK = ("copy", os.path.join(DATASETS, "mask_box_64x64.h5"))

    # ---------------- poisson: malformed MatrixMarket (default solver, amg-pcg) -------------
    big_line = "1 1 " + "4" * 1_000_000
    bad_mm = {
        "empty": "",
        "blank-lines": "\n\n\n",
        "banner-only": "%%MatrixMarket matrix coordinate real general\n",
        "banner-comments-only": "%%MatrixMarket matrix coordinate real general\n% a\n% b\n",
        "no-banner": "3 3 3\n1 1 4\n2 2 4\n3 3 4\n",
        "bad-object": mm(tridiag(3), banner="%%MatrixMarket tensor coordinate real general"),
        "bad-format": mm(tridiag(3), banner="%%MatrixMarket matrix sparse real general"),
        "bad-field": mm(tridiag(3), banner="%%MatrixMarket matrix coordinate quaternion general"),
        "bad-symmetry": mm(tridiag(3), banner="%%MatrixMarket matrix coordinate real weird"),
        "banner-short": mm(tridiag(3), banner="%%MatrixMarket matrix"),
        "banner-lowercase": mm(tridiag(3), sym="symmetric",
                               banner="%%matrixmarket MATRIX Coordinate REAL Symmetric"),
        "banner-bom": "\ufeff" + SPD3,
        "crlf": SPD3.replace("\n", "\r\n"),
        "tabs": SPD3.replace(" ", "\t"),
        "complex": mm([(1, 1, "4 0"), (2, 2, "4 0"), (3, 3, "4 0")], field="complex"),
        "hermitian": mm([(1, 1, "4 0"), (2, 1, "1 1"), (2, 2, "4 0"), (3, 3, "4 0")],
                        field="complex", sym="hermitian"),
        "skew-with-diag": mm([(1, 1, 4), (2, 1, 1)], rows=2, sym="skew-symmetric"),
        "pattern-general": mm([(1, 1), (2, 2), (3, 3)], field="pattern"),
        "pattern-symmetric": mm([(1, 1), (2, 1), (2, 2), (3, 2), (3, 3)], field="pattern",
                                sym="symmetric"),
        "pattern-with-values": mm(tridiag(3), field="pattern", sym="symmetric"),
        "integer-symmetric": mm(tridiag(3), field="integer", sym="symmetric"),
        "integer-with-float": mm([(1, 1, 4.5), (2, 2, 4), (3, 3, 4)], field="integer"),
        "array-spd": mm_array([4, -1, 0, -1, 4, -1, 0, -1, 4], rows=3, cols=3),
        "array-symmetric": "%%MatrixMarket matrix array real symmetric\n3 3\n4\n-1\n0\n4\n-1\n4\n",
        "size-missing": "%%MatrixMarket matrix coordinate real general\n1 1 4\n",
        "size-two-fields": mm(tridiag(3), size="3 3"),
        "size-four-fields": mm(tridiag(3), size="3 3 7 9"),
        "size-negative-rows": mm(tridiag(3), size="-3 3 7"),
        "size-negative-nnz": mm(tridiag(3), size="3 3 -7"),
        "size-zero": mm([], rows=0, cols=0, nnz=0),
        "size-zero-rows-entries": mm([(1, 1, 4)], size="0 0 1"),
        "size-float": mm(tridiag(3), size="3.0 3.0 7"),
        "size-hex": mm(tridiag(3), size="0x3 0x3 7"),
        "size-text": mm(tridiag(3), size="three three seven"),
        "size-u64-overflow": mm([(1, 1, 4)], size="99999999999999999999999 99999999999999999999999 1"),
        "size-huge-1e12": mm([(1, 1, 4)], size="1000000000000 1000000000000 1"),
        "size-huge-nnz": mm([(1, 1, 4)], size="3 3 1000000000000000"),
        "size-2e9": mm([(1, 1, 4)], size="2000000000 2000000000 1"),
        "size-usize-max": mm([(1, 1, 4)], size="18446744073709551615 18446744073709551615 1"),
        "non-square": mm([(1, 1, 4), (2, 2, 4), (3, 3, 4)], rows=3, cols=4),
        "non-square-tall": mm([(1, 1, 4), (2, 2, 4)], rows=3, cols=2),
        "truncated-entries": mm(tridiag(3), nnz=20),
        "too-many-entries": mm(tridiag(3), nnz=2),
        "truncated-mid-line": mm(tridiag(3))[:-4],
        "index-zero-row": mm([(0, 1, 4), (2, 2, 4), (3, 3, 4)]),
        "index-zero-col": mm([(1, 0, 4), (2, 2, 4), (3, 3, 4)]),
        "index-negative": mm([(-1, 1, 4), (2, 2, 4), (3, 3, 4)]),
        "index-row-oob": mm([(1, 1, 4), (2, 2, 4), (4, 3, 4)]),
        "index-col-oob": mm([(1, 1, 4), (2, 2, 4), (3, 9, 4)]),
        "index-huge": mm([(1, 1, 4), (2, 2, 4), (18446744073709551615, 3, 4)]),
        "index-float": mm([(1.5, 1, 4), (2, 2, 4), (3, 3, 4)]),
        "value-nan": mm([(1, 1, 4), (2, 2, "nan"), (3, 3, 4)]),
        "value-NaN-caps": mm([(1, 1, 4), (2, 2, "NaN"), (3, 3, 4)]),
        "value-inf": mm([(1, 1, 4), (2, 2, "inf"), (3, 3, 4)]),
        "value-neg-inf": mm([(1, 1, 4), (2, 2, "-inf"), (3, 3, 4)]),
        "value-1e309": mm([(1, 1, 4), (2, 2, "1e309"), (3, 3, 4)]),
        "value-text": mm([(1, 1, 4), (2, 2, "abc"), (3, 3, 4)]),
        "value-fortran-d": mm([(1, 1, "4.0d0"), (2, 2, 4), (3, 3, 4)]),
        "value-hex": mm([(1, 1, "0x4"), (2, 2, 4), (3, 3, 4)]),
        "value-missing": mm([(1, 1), (2, 2, 4), (3, 3, 4)]),
        "value-extra-columns": mm([(1, 1, 4, 5, 6), (2, 2, 4), (3, 3, 4)]),
        "value-plus-sign": mm([(1, 1, "+4"), (2, 2, "+4.0e+0"), (3, 3, 4)]),
        "duplicate-entries": mm([(1, 1, 2), (1, 1, 2), (2, 2, 4), (3, 3, 4)]),
        "symmetric-upper-entry": mm([(1, 1, 4), (1, 2, -1), (2, 2, 4), (3, 3, 4)],
                                    sym="symmetric"),
        "comment-in-entries": mm(tridiag(3))[:-1] + "\n% trailing comment\n\n",
        "long-line": mm([(2, 2, 4), (3, 3, 4)], nnz=3, extra=big_line + "\n"),
        "nul-bytes": "%%MatrixMarket matrix coordinate real general\n3 3 3\n1 1 4\x00\n2 2 4\n3 3 4\n",
        "latin1-comment": b"%%MatrixMarket matrix coordinate real general\n% caf\xe9\n3 3 3\n1 1 4\n2 2 4\n3 3 4\n",
        "garbage-1k": garbage(1024, 1),
        "garbage-64k": garbage(65536, 2),
        "garbage-after-banner": b"%%MatrixMarket matrix coordinate real general\n" + garbage(4096, 5),
        "hdf5-as-mtx": ("fx", "sol.h5"),
        "one-by-one-zero": mm([(1, 1, 0)], rows=1),
        "empty-matrix-3x3": mm([], rows=3, nnz=0),
    }
    for key, content in bad_mm.items():
        exp = None
        if key.startswith(("size-", "index-", "value-nan", "value-NaN", "value-inf", "value-neg",
                           "value-1e309", "value-text", "value-missing", "bad-", "garbage",
                           "empty", "blank", "banner-only", "banner-comments", "truncated",
                           "too-many", "non-square", "complex", "hermitian", "nul-", "hdf5-")):
            exp = "error"
        add(f"poisson-mtx-{key}", "poisson", ["poisson", "--matrix", "A.mtx", "--quiet"],
            files={"A.mtx": content}, expect=exp,
            require=r"1-based|line \d+|row \d+|entry|index|column|size|header|banner|Matrix"
            if key in ("index-row-oob",) else None)
    add("poisson-mtx-row-number-1based", "poisson", ["poisson", "--matrix", "A.mtx"],
        files={"A.mtx": mm([(1, 1, 4), (2, 2, 4), (4, 3, 4)])}, expect="error",
        forbid=r"\brow 3\b(?!.*line)", note="the bad row is 4 (1-based): must not be reported as 3")
    for dev in ["/dev/null", "/dev/zero", "/dev/urandom"]:
        add(f"poisson-mtx-dev-{dev.split('/')[-1]}", "poisson", ["poisson", "--matrix", dev],
            expect="error", timeout=20)
    add("poisson-mtx-missing", "poisson", ["poisson", "--matrix", "nope.mtx"], expect="error")
    add("poisson-mtx-directory", "poisson", ["poisson", "--matrix", "d"], files={"d": ("dir",)},
        expect="error")
    add("poisson-mtx-empty-path", "poisson", ["poisson", "--matrix", ""], expect="error")
    add("poisson-mtx-symlink-loop", "poisson", ["poisson", "--matrix", "loop.mtx"],
        files={"loop.mtx": ("symlink", "loop.mtx")}, expect="error")

    # ---------------- poisson: non-SPD / singular matrices x every solver --------------------
    mats = {
        "spd": (SPD3, None),
        "nonsym": (mm([(1, 1, 4), (1, 2, 1), (2, 2, 4), (3, 3, 4)]), "sym"),
        "indefinite": (mm([(1, 1, 1), (2, 2, -1), (3, 3, 1)], sym="symmetric"), None),
        "negdef": (mm([(1, 1, -1), (2, 2, -1), (3, 3, -1)], sym="symmetric"), "spd"),
        "zerodiag": (mm([(2, 1, 1)], rows=2, sym="symmetric"), None),
        "singular": (mm([(1, 1, 1), (2, 1, -1), (2, 2, 1)], rows=2, sym="symmetric"), "spd"),
        "emptyrow": (mm([(1, 1, 4), (3, 3, 4)]), "spd"),
        "overflow": (mm([(1, 1, "1e308"), (2, 2, "1e308")], rows=2, sym="symmetric"), None),
        "nan": (mm([(1, 1, 4), (2, 2, "nan"), (3, 3, 4)], sym="symmetric"), "all"),
        "inf": (mm([(1, 1, 4), (2, 2, "inf"), (3, 3, 4)], sym="symmetric"), "all"),
        "subnormal": (mm([(1, 1, "1e-320"), (2, 2, "1e-320")], rows=2, sym="symmetric"), None),
        "hugecond": (mm([(1, 1, "1e-300"), (2, 2, "1e300")], rows=2, sym="symmetric"), None),
        "skew": (mm([(2, 1, 1)], rows=2, sym="skew-symmetric"), "spd"),
    }
    cg_family = {"cg", "jacobi-pcg", "ic0-pcg", "ssor-pcg", "amg-pcg", "amg", "auto"}
    for mname, (content, needs) in mats.items():
        for solver in ["cg", "jacobi-pcg", "ic0-pcg", "ssor-pcg", "mg-pcg", "amg-pcg", "amg",
                       "sor", "ssor", "auto", "dcdm"]:
            exp = None
            if solver in ("mg-pcg", "dcdm") or needs == "all":
                exp = "error"
            elif needs in ("sym", "spd") and solver in cg_family:
                exp = "error"
            elif mname == "spd":
                exp = "ok"
            forbid = None
            if mname == "overflow" and solver == "cg":
                forbid = r"not positive definite"
            elif mname in ("subnormal", "emptyrow", "singular"):
                # tiny or zero entries are not an overflow of large entries (the old wording)
                forbid = r"near 1e308, or products of large entries"
            elif mname == "hugecond":
                # diag(1e-300, 1e300) is SPD: "matrix is not positive definite" alone is wrong
                forbid = r"matrix is not positive definite"
            add(f"poisson-solver-{solver}-{mname}", "poisson",
                ["poisson", "--matrix", "A.mtx", "--solver", solver, "--quiet",
                 "--max-iters", "1000"],
                files={"A.mtx": content}, expect=exp, forbid=forbid, partial_ok=(3,))

    # ---------------- poisson: --rhs-file ---------------------------------------------------
    rhs_cases = {
        "matrix-as-rhs": P16,
        "wrong-length": mm_array([1.0] * 255),
        "too-long": mm_array([1.0] * 257),
        "nan": mm_array([1.0] * 100 + ["nan"] + [1.0] * 155),
        "inf": mm_array([1.0] * 100 + ["inf"] + [1.0] * 155),
        "huge": mm_array(["1e308"] * 256),
        "zeros": mm_array([0.0] * 256),
        "two-columns": mm_array([1.0] * 512, rows=256, cols=2),
        "row-vector": mm_array([1.0] * 256, rows=1, cols=256),
        "coordinate-column": mm([(i, 1, 1.0) for i in range(1, 257)], rows=256, cols=1),
        "coordinate-sparse": mm([(5, 1, 1.0)], rows=256, cols=1),
        "coordinate-symmetric": mm([(i, 1, 1.0) for i in range(1, 257)], rows=256, cols=1,
                                   sym="symmetric"),
        "empty": "",
        "garbage": garbage(2048, 11),
        "header-only": "%%MatrixMarket matrix array real general\n256 1\n",
        "array-truncated": mm_array([1.0] * 100, rows=256),
        "array-complex": "%%MatrixMarket matrix array complex general\n2 1\n1 0\n1 0\n",
        "text-value": mm_array(["x"] * 256),
    }
    for key, content in rhs_cases.items():
        exp = None if key in ("zeros", "coordinate-column", "coordinate-sparse",
                              "huge", "row-vector") else "error"
        forbid = r"must be stored as general" if key == "matrix-as-rhs" else None
        add(f"poisson-rhsfile-{key}", "poisson",
            ["poisson", "--matrix", "A.mtx", "--rhs-file", "b.mtx", "--quiet"],
            files={"A.mtx": P16, "b.mtx": content}, expect=exp, forbid=forbid, partial_ok=(3,))
    add("poisson-rhsfile-missing", "poisson",
        ["poisson", "--matrix", "A.mtx", "--rhs-file", "nope.mtx"], files={"A.mtx": P16},
        expect="error")
    add("poisson-rhsfile-directory", "poisson",
        ["poisson", "--matrix", "A.mtx", "--rhs-file", "d"], files={"A.mtx": P16, "d": ("dir",)},
        expect="error")
    add("poisson-rhsfile-with-grid", "poisson",
        ["poisson", "--grid", "16x16", "--rhs-file", "b.mtx", "--quiet"], files={"b.mtx": P16RHS})
    add("poisson-rhsfile-with-grid-wrong-size", "poisson",
        ["poisson", "--grid", "8x8", "--rhs-file", "b.mtx"], files={"b.mtx": P16RHS},
        expect="error")
    add("poisson-rhsfile-and-rhs", "poisson",
        ["poisson", "--matrix", "A.mtx", "--rhs-file", "b.mtx", "--rhs", "ones"],
        files={"A.mtx": P16, "b.mtx": P16RHS}, expect="error")
    add("poisson-rhsfile-and-seed", "poisson",
        ["poisson", "--matrix", "A.mtx", "--rhs-file", "b.mtx", "--seed", "3"],
        files={"A.mtx": P16, "b.mtx": P16RHS}, expect="error")
    add("poisson-rhs-bogus", "poisson", ["poisson", "--grid", "8x8", "--rhs", "sideways"],
        expect="error")
    add("poisson-rhs-point-1x1", "poisson", ["poisson", "--grid", "1x1", "--rhs", "point",
                                             "--quiet"])
    add("poisson-rhs-point-matrix-1", "poisson",
        ["poisson", "--matrix", "A.mtx", "--rhs", "point", "--quiet"],
        files={"A.mtx": mm([(1, 1, 4)], rows=1)})

    # ---------------- grid specs (poisson, wos, sequence) ----------------------------------
    grid_specs = {
        "zero": "0", "neg": "-1", "0x10": "0x10", "10x0": "10x0", "0x0": "0x0", "one": "1",
        "1x1": "1x1", "1x1x1": "1x1x1", "2x1": "2x1", "4d": "2x2x2x2", "5d": "2x2x2x2x2",
        "huge2d": "100000x100000", "huge3d": "3000x3000x3000", "mid2d-20000": "20000x20000",
        "long1d": "1x200000000", "huge1d": "10000000000",
        "u64-overflow": "18446744073709551616x1", "product-overflow": "4294967296x4294967296",
        "product-overflow3d": "3000000x3000000x3000000", "text": "abc", "empty": "",
        "trailing-x": "10x", "leading-x": "x10", "double-x": "10xx10", "upper-X": "10X10",
        "star": "10*10", "float": "10.5x10", "exp": "1e3", "plus": "+10x10", "space": " 10x10",
        "comma": "10,10", "unicode-times": "10×10", "neg2d": "-10x10",
    }
    for key, spec in grid_specs.items():
        exp = None if key in ("one", "1x1", "1x1x1", "2x1", "upper-X", "plus",
                              "space") else "error"
        add(f"poisson-grid-{key}", "poisson", ["poisson", "--grid", spec, "--quiet"], expect=exp,
            timeout=30)
        add(f"poisson-grid-{key}-cg", "poisson",
            ["poisson", "--grid", spec, "--solver", "cg", "--quiet"], expect=exp, timeout=30)
    for key in ["huge2d", "huge3d", "mid2d-20000", "long1d"]:
        for solver in ["ic0-pcg", "amg-pcg", "sor"]:
            add(f"poisson-grid-{key}-{solver}", "poisson",
                ["poisson", "--grid", grid_specs[key], "--solver", solver, "--quiet"],
                expect="error", timeout=30)
    between = [
        ("poisson-guard-vs-ulimit-cg", ["poisson", "--grid", "14000x14000", "--solver", "cg",
                                        "--quiet"]),
        ("poisson-guard-vs-ulimit-mgpcg", ["poisson", "--grid", "9000x9000", "--quiet"]),
        ("poisson-guard-vs-ulimit-3d", ["poisson", "--grid", "600x600x600", "--solver", "cg",
                                        "--quiet"]),
        ("wos-guard-vs-ulimit", ["wos", "--domain", BOX, "--boundary", "x", "--grid",
                                 "8000x8000", "--walks", "1", "--quiet"]),
    ]
    for name, args in between:
        add(name, name.split("-")[0], args, timeout=30,
            note="estimated below MemAvailable but above `ulimit -v 8G`: must be a clean error")
    add("poisson-grid-and-matrix", "poisson",
        ["poisson", "--grid", "16x16", "--matrix", "A.mtx"], files={"A.mtx": P16},
        expect="error")

    # ---------------- poisson: numeric flags ----------------------------------------------
    base = ["poisson", "--grid", "16x16", "--quiet"]
    for v in ["0", "-1", "1", "32", "33", "99999999999", "18446744073709551616", "abc", "1.5",
              ""]:
        exp = "ok" if v in ("1", "32") else "error"
        add(f"poisson-threads-{v or 'empty'}", "poisson", base + ["--threads", v], expect=exp)
    for v in ["0", "-1", "nan", "inf", "-inf", "1e-400", "1e308", "2", "abc", "1e-17"]:
        exp = "error" if v in ("-1", "nan", "inf", "-inf", "abc") else None
        add(f"poisson-tol-{v}", "poisson", base + ["--solver", "cg", "--tol", v,
                                                   "--max-iters", "2000"],
            expect=exp, partial_ok=(3,))
    for v in ["0", "-1", "1", "18446744073709551616", "abc", "1e3"]:
        exp = "error" if v in ("-1", "18446744073709551616", "abc", "1e3") else None
        add(f"poisson-maxiters-{v}", "poisson", base + ["--solver", "cg", "--max-iters", v],
            expect=exp, partial_ok=(3,))
    for v in ["0", "2", "-1", "nan", "inf", "1.9999999", "1e-7", "abc", "2.5"]:
        exp = "error" if v in ("0", "2", "-1", "nan", "inf", "abc", "2.5") else None
        for solver in ["sor", "ssor-pcg"]:
            add(f"poisson-omega-{solver}-{v}", "poisson",
                base + ["--solver", solver, "--omega", v, "--max-iters", "20000"],
                expect=exp, partial_ok=(3,), timeout=30)
    for v in ["-1", "18446744073709551616", "abc"]:
        add(f"poisson-seed-{v}", "poisson", base + ["--seed", v], expect="error")
    for v in ["0", "abc", "1K", "-5G", "1E", "99999999999999999999G", "8X", "0.5G"]:
        exp = "error" if v in ("0", "abc", "-5G", "8X", "1K") else None
        add(f"poisson-maxmem-{v}", "poisson", base + ["--max-memory", v], expect=exp)
    add("poisson-maxmem-env-garbage", "poisson", base, env={"NABLA_MAX_MEMORY": "lots"},
        expect="error")
    add("poisson-maxmem-raised-huge-grid", "poisson",
        ["poisson", "--grid", "100000x100000", "--max-memory", "100T", "--quiet"],
        timeout=30, note="limit raised on purpose: ulimit -v 8G must still give a clean error")
    for flag, vals in [("--amg-theta", ["-1", "nan", "inf", "1e9"]),
                       ("--amg-smoother", ["bogus", "chebyshev0", "chebyshev999999",
                                           "chebyshev-1", ""]),
                       ("--amg-sweeps", ["0", "-1", "1000000000"]),
                       ("--amg-coarse-size", ["0", "1", "18446744073709551616"]),
                       ("--amg-block-size", ["0", "3", "1000000"])]:
        for v in vals:
            exp = None if (flag, v) in (("--amg-theta", "1e9"), ("--amg-coarse-size", "1")) \
                else "error"
            add(f"poisson-amg{flag[5:]}-{v or 'empty'}", "poisson",
                ["poisson", "--matrix", "A.mtx", "--solver", "amg-pcg", flag, v, "--quiet"] +
                ([] if flag == "--amg-coarse-size" else ["--amg-coarse-size", "10"]),
                files={"A.mtx": P16}, expect=exp, timeout=30, partial_ok=(3,))
    nn_cases = {
        "wrong-rows": mm_array([1.0] * 10),
        "coordinate": P16,
        "nan": mm_array(["nan"] * 256),
        "zeros": mm_array([0.0] * 256),
        "garbage": garbage(512, 9),
        "empty": "",
    }
    for key, content in nn_cases.items():
        add(f"poisson-nearnull-{key}", "poisson",
            ["poisson", "--matrix", "A.mtx", "--solver", "amg-pcg", "--near-nullspace", "B.mtx",
             "--amg-coarse-size", "10", "--quiet"], files={"A.mtx": P16, "B.mtx": content},
            expect=None if key == "coordinate" else "error")

    # ---------------- poisson: flag combinations that must be errors ------------------------
    combos = {
        "mask-with-matrix": (["--matrix", "A.mtx", "--mask", "m.h5"], {"A.mtx": P16, "m.h5": MASK}),
        "omega-with-cg": (["--grid", "16x16", "--solver", "cg", "--omega", "1.5"], {}),
        "omega-with-mgpcg": (["--grid", "16x16", "--solver", "mg-pcg", "--omega", "1.5"], {}),
        "omega-with-default": (["--grid", "16x16", "--omega", "1.5"], {}),
        "omega-with-amg": (["--matrix", "A.mtx", "--omega", "1.2"], {"A.mtx": P16}),
        "seed-with-ones": (["--grid", "16x16", "--rhs", "ones", "--seed", "3"], {}),
        "seed-with-point": (["--grid", "16x16", "--rhs", "point", "--seed", "3"], {}),
        "seed-with-matrix-default-rhs": (["--matrix", "A.mtx", "--seed", "3"], {"A.mtx": P16}),
        "amg-theta-with-cg": (["--grid", "16x16", "--solver", "cg", "--amg-theta", "0.1"], {}),
        "amg-smoother-with-sor": (["--grid", "16x16", "--solver", "sor", "--amg-smoother",
                                   "sgs"], {}),
        "amg-sweeps-with-mgpcg": (["--grid", "16x16", "--amg-sweeps", "2"], {}),
        "amg-coarse-with-ic0": (["--grid", "16x16", "--solver", "ic0-pcg", "--amg-coarse-size",
                                 "100"], {}),
        "amg-block-with-jacobi": (["--grid", "16x16", "--solver", "jacobi-pcg",
                                   "--amg-block-size", "2"], {}),
        "nearnull-with-cg": (["--matrix", "A.mtx", "--solver", "cg", "--near-nullspace",
                              "B.mtx"], {"A.mtx": P16, "B.mtx": mm_array([1.0] * 256)}),
        "model-with-cg": (["--grid", "16x16", "--solver", "cg", "--model", "m.safetensors"],
                          {"m.safetensors": ("fx", "dcdm_run/checkpoint.safetensors")}),
        "directions-with-cg": (["--grid", "16x16", "--solver", "cg", "--directions", "4"], {}),
        "dcdm-without-model": (["--grid", "16x16", "--solver", "dcdm"], {}),
        "dcdm-with-matrix": (["--matrix", "A.mtx", "--solver", "dcdm", "--model",
                              "m.safetensors"], {"A.mtx": P16, "m.safetensors":
                                                 ("fx", "dcdm_run/checkpoint.safetensors")}),
        "dcdm-model-garbage": (["--grid", "16x16", "--solver", "dcdm", "--model", "m.st"],
                               {"m.st": garbage(3000, 4)}),
        "dcdm-model-pinn": (["--grid", "16x16", "--solver", "dcdm", "--model", "m.st"],
                            {"m.st": ("fx", "pinn_run/checkpoint.safetensors")}),
        "dcdm-model-missing": (["--grid", "16x16", "--solver", "dcdm", "--model", "m.st"], {}),
        "dcdm-directions-0": (["--grid", "16x16", "--solver", "dcdm", "--model", "m.st",
                               "--directions", "0"],
                              {"m.st": ("fx", "dcdm_run/checkpoint.safetensors")}),
        "dcdm-directions-huge-is-fine": (["--grid", "16x16", "--solver", "dcdm", "--model", "m.st",
                                  "--directions", "1000000000000"],
                                 {"m.st": ("fx", "dcdm_run/checkpoint.safetensors")}),
        "dcdm-3d": (["--grid", "8x8x8", "--solver", "dcdm", "--model", "m.st"],
                    {"m.st": ("fx", "dcdm_run/checkpoint.safetensors")}),
        "mgpcg-with-matrix": (["--matrix", "A.mtx", "--solver", "mg-pcg"], {"A.mtx": P16}),
        "mask-wrong-size": (["--grid", "32x32", "--mask", "m.h5"], {"m.h5": MASK}),
        "mask-3d-grid": (["--grid", "64x64x2", "--mask", "m.h5"], {"m.h5": MASK}),
        "mask-not-h5": (["--grid", "64x64", "--mask", "m.h5"], {"m.h5": "not hdf5\n"}),
        "mask-no-dataset": (["--grid", "8x8", "--mask", "m.h5"], {"m.h5": ("fx", "sol.h5")}),
        "mask-missing": (["--grid", "64x64", "--mask", "m.h5"], {}),
        "mask-truncated": (["--grid", "16x16", "--mask", "m.h5"],
                           {"m.h5": ("fx", "darcy16_trunc.h5")}),
        "solver-bogus": (["--grid", "16x16", "--solver", "gmres"], {}),
        "solver-empty": (["--grid", "16x16", "--solver", ""], {}),
        "unknown-flag": (["--grid", "16x16", "--frobnicate"], {}),
        "plot-with-matrix": (["--matrix", "A.mtx", "--plot", "u.png"], {"A.mtx": P16}),
    }
    for key, (args, files) in combos.items():
        add(f"poisson-combo-{key}", "poisson", ["poisson"] + args + ["--quiet"], files=files,
            expect=None if key.endswith("-is-fine") else "error", timeout=30)

    # ---------------- poisson: outputs ----------------------------------------------------
    outs = {
        "report-onto-matrix": (["--matrix", "A.mtx", "--report", "A.mtx"], {"A.mtx": P16}),
        "report-onto-matrix-dotslash": (["--matrix", "A.mtx", "--report", "./A.mtx"],
                                        {"A.mtx": P16}),
        "report-onto-matrix-abs-like": (["--matrix", "sub/../A.mtx", "--report", "A.mtx"],
                                        {"A.mtx": P16, "sub": ("dir",)}),
        "report-onto-matrix-symlink": (["--matrix", "A.mtx", "--report", "L.mtx"],
                                       {"A.mtx": P16, "L.mtx": ("symlink", "A.mtx")}),
        "report-onto-matrix-hardlink": (["--matrix", "A.mtx", "--report", "H.mtx"],
                                        {"A.mtx": P16, "H.mtx": ("hardlink", "A.mtx")}),
        "out-onto-matrix": (["--matrix", "A.mtx", "--out", "./A.mtx"], {"A.mtx": P16}),
        "plot-onto-matrix": (["--matrix", "A.mtx", "--history-plot", "A.mtx"], {"A.mtx": P16}),
        "out-onto-rhs": (["--matrix", "A.mtx", "--rhs-file", "b.mtx", "--out", "b.mtx"],
                         {"A.mtx": P16, "b.mtx": P16RHS}),
        "report-onto-nearnull": (["--matrix", "A.mtx", "--near-nullspace", "B.mtx", "--report",
                                  "B.mtx"], {"A.mtx": P16, "B.mtx": mm_array([1.0] * 256)}),
        "out-onto-mask": (["--grid", "64x64", "--mask", "m.h5", "--out", "m.h5"], {"m.h5": MASK}),
        "out-onto-model": (["--grid", "16x16", "--solver", "dcdm", "--model", "m.st", "--out",
                            "m.st"], {"m.st": ("fx", "dcdm_run/checkpoint.safetensors")}),
        "out-equals-report": (["--grid", "8x8", "--out", "r", "--report", "r"], {}),
        "plot-equals-history": (["--grid", "8x8", "--plot", "p.png", "--history-plot",
                                 "p.png"], {}),
        "report-missing-dir": (["--grid", "8x8", "--report", "missing/r.json"], {}),
        "out-missing-dir": (["--grid", "8x8", "--out", "missing/deeper/sol.h5"], {}),
        "report-onto-dir": (["--grid", "8x8", "--report", "d"], {"d": ("dir",)}),
        "out-onto-dir": (["--grid", "8x8", "--out", "d"], {"d": ("dir",)}),
        "report-trailing-slash": (["--grid", "8x8", "--report", "r.json/"], {}),
        "report-empty": (["--grid", "8x8", "--report", ""], {}),
        "report-under-file": (["--grid", "8x8", "--report", "f/r.json"], {"f": "a file\n"}),
        "plot-missing-dir-with-out-report": (["--grid", "8x8", "--out", "sol.h5", "--report",
                                              "r.json", "--plot", "missing/u.png"], {}),
        "history-onto-dir-with-out": (["--grid", "8x8", "--out", "sol.h5", "--history-plot",
                                       "d"], {"d": ("dir",)}),
        "plot-bad-extension": (["--grid", "8x8", "--out", "sol.h5", "--plot", "u.jpgx"], {}),
        "out-onto-proc": (["--grid", "8x8", "--report", "/proc/self/nope.json"], {}),
    }
    for key, (args, files) in outs.items():
        exp = None if key == "plot-bad-extension" else "error"
        add(f"poisson-out-{key}", "poisson", ["poisson"] + args + ["--quiet"], files=files,
            expect=exp)
    add("poisson-out-maxiters-exit3-outputs", "poisson",
        ["poisson", "--grid", "16x16", "--solver", "cg", "--max-iters", "2", "--out", "s.h5",
         "--report", "r.json", "--quiet"], partial_ok=(3,),
        note="exit 3 is documented to write outputs")
    add("poisson-out-overwrite-existing", "poisson",
        ["poisson", "--grid", "8x8", "--report", "r.json", "--quiet"],
        files={"r.json": "{}\n"}, mutable={"r.json"}, expect="ok")
    add("poisson-plot-1x1", "poisson", ["poisson", "--grid", "1x1", "--plot", "u.png",
                                        "--history-plot", "h.png", "--quiet"])
    add("poisson-plot-3d", "poisson", ["poisson", "--grid", "4x4x4", "--plot", "u.png", "--quiet"],
        expect="ok")
    add("poisson-plot-1d", "poisson", ["poisson", "--grid", "7", "--plot", "u.png", "--quiet"],
        expect="ok")
    add("poisson-plot-1d-cg-one-iteration", "poisson",
        ["poisson", "--grid", "1", "--solver", "cg", "--history-plot", "h.png", "--quiet"])
    add("poisson-plot-nan-solution", "poisson",
        ["poisson", "--matrix", "A.mtx", "--rhs-file", "b.mtx", "--solver", "sor", "--plot",
         "u.png", "--quiet"], files={"A.mtx": P16, "b.mtx": mm_array(["1e308"] * 256)},
        partial_ok=(3,))

    # ---------------- sequence -----------------------------------------------------------
    sbase = ["sequence", "--quiet", "--instances", "10"]
    for key in ["zero", "0x10", "10x0", "1x1", "one", "huge2d", "mid2d-20000", "text", "4d",
                "1x1x1", "product-overflow", "neg2d", "empty"]:
        exp = None if key == "1x1" else "error"
        add(f"sequence-grid-{key}", "sequence", sbase + ["--grid", grid_specs[key]], expect=exp,
            timeout=30)
    seq = {
        "instances-0": ["--instances", "0"],
        "instances-neg": ["--instances", "-1"],
        "instances-huge": ["--instances", "1000000000000"],
        "instances-text": ["--instances", "many"],
        "problem-bogus": ["--problem", "wave"],
        "solver-bogus": ["--solver", "cg"],
        "tuner-bogus": ["--tuner", "greedy"],
        "omega-with-all": ["--omega", "1.5"],
        "omega-with-tsallis": ["--tuner", "tsallis-inf", "--omega", "1.5"],
        "omega-2-fixed": ["--tuner", "fixed", "--omega", "2"],
        "omega-0-fixed": ["--tuner", "fixed", "--omega", "0"],
        "omega-nan-fixed": ["--tuner", "fixed", "--omega", "nan"],
        "tol-0": ["--tuner", "fixed", "--tol", "0", "--max-iters", "50"],
        "tol-neg": ["--tol", "-1"],
        "tol-nan": ["--tol", "nan"],
        "maxiters-0": ["--tuner", "fixed", "--max-iters", "0"],
        "maxiters-huge-tol0": ["--tuner", "fixed", "--tol", "0", "--max-iters",
                               "18446744073709551615"],
        "seed-neg": ["--seed", "-3"],
        "shift-dist-bogus": ["--shift-distribution", "medium"],
        "shift-scaling-bogus": ["--shift-scaling", "weird"],
        "shift-with-heat": ["--problem", "heat", "--shift-distribution", "low"],
        "maxmem-tiny": ["--max-memory", "1K"],
        "report-missing-dir": ["--tuner", "fixed", "--report", "missing/r.json"],
        "report-onto-dir": ["--tuner", "fixed", "--report", "d"],
        "plot-missing-dir-with-report": ["--tuner", "fixed", "--report", "r.json", "--plot",
                                         "missing/p.png"],
        "report-equals-plot": ["--tuner", "fixed", "--report", "x", "--plot", "x"],
        "threads-flag": ["--threads", "4"],
    }
    for key, args in seq.items():
        exp = None if key in ("tol-0", "maxiters-0", "seed-neg") else "error"
        base_args = sbase if "--instances" not in args else ["sequence", "--quiet"]
        add(f"sequence-{key}", "sequence", base_args + args, expect=exp, timeout=20,
            files={"d": ("dir",)} if "onto-dir" in key else None)

    # ---------------- wos ----------------------------------------------------------------
    wbase = ["wos", "--quiet", "--walks", "4"]
    domains = {
        "empty": "", "box-no-args": "box", "box-degenerate": "box:min=0,0;max=0,0",
        "box-inverted": "box:min=1,1;max=0,0", "box-dim-mismatch": "box:min=0,0;max=1",
        "box-nan": "box:min=nan,0;max=1,1", "box-inf": "box:min=0,0;max=inf,1",
        "box-1d": "box:min=0;max=1", "box-4d": "box:min=0,0,0,0;max=1,1,1,1",
        "box-huge": "box:min=-1e308,-1e308;max=1e308,1e308",
        "ball-r0": "ball:center=0,0;radius=0", "ball-rneg": "ball:center=0,0;radius=-1",
        "ball-rinf": "ball:center=0,0;radius=inf", "ball-dim1000": "ball:dim=1000",
        "ball-dim-huge": "ball:dim=100000000",
        "polygon-2v": "polygon:vertices=0,0,1,1", "polygon-odd": "polygon:vertices=0,0,1,0,1",
        "polygon-bowtie": "polygon:vertices=0,0,1,1,1,0,0,1",
        "polygon-collinear": "polygon:vertices=0,0,1,0,2,0",
        "polygon-nan": "polygon:vertices=0,0,nan,0,1,1",
        "star-negative-r": "star:c1=2;c2=0", "star-r0": "star:r0=0",
        "star-bad-term": "star:r0=1;cos=x:0.2", "star-huge-mode": "star:r0=1;cos=100000000:0.1",
        "mesh-missing": "mesh:nope.obj", "mesh-garbage": "mesh:g.obj",
        "mesh-empty": "mesh:e.obj", "mesh-open": "mesh:open.obj", "mesh-dir": "mesh:d",
        "mesh-bad-index": "mesh:bi.obj",
        "union-mixed-dims": "union(box:min=0,0;max=1,1 | ball:center=0,0,0;radius=1)",
        "union-unclosed": "union(box:min=0,0;max=1,1 | ",
        "union-one-arg": "union(box:min=0,0;max=1,1)",
        "difference-empty": f"difference({BOX} | {BOX})",
        "intersection-disjoint": "intersection(box:min=0,0;max=1,1 | box:min=5,5;max=6,6)",
        "deep-nesting": "union(" * 4000 + BOX + (" | " + BOX + ")") * 4000,
        "unknown-kind": "torus:r=1", "lshape-args": "lshape:scale=2",
        "garbage-chars": "\x01\x02box",
    }
    mesh_files = {
        "g.obj": garbage(3000, 21),
        "e.obj": "",
        "open.obj": "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",
        "bi.obj": "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 99\nf 1 2 4\nf 1 3 4\nf 2 3 4\n",
        "d": ("dir",),
    }
    for key, dom in domains.items():
        exp = None if key in ("box-huge", "union-one-arg", "ball-dim1000", "lshape-args",
                              "star-huge-mode") else "error"
        files = mesh_files if key.startswith("mesh") else None
        add(f"wos-domain-{key}", "wos", wbase + ["--domain", dom, "--boundary", "x", "--grid",
                                                 "4x4"], files=files, expect=exp, timeout=20)
    exprs = {
        "empty": "", "dangling-op": "x+", "div-zero": "1/0", "log-neg": "log(x-5)",
        "ln-neg": "ln(x-5)", "sqrt-neg": "sqrt(-1)", "unknown-fn": "foo(x)",
        "double-caret": "x^^2", "unbalanced": "((x)", "deep-parens": "(" * 60000 + "x" +
        ")" * 60000, "deep-unary": "-" * 100000 + "x", "huge-literal": "1e999",
        "nan-literal": "nan", "t-var": "t", "bare-fn": "sin", "pow-1-arg": "pow(x)",
        "atan2-1-arg": "atan2(x)", "unicode": "x×y", "juxtaposition": "x y",
        "long": "+".join(["x"] * 60000), "overflow": "exp(1000)", "asin-out": "asin(2)",
        "garbage": "\x01\x02\x7f",
    }
    for key, ex in exprs.items():
        for where in ["boundary", "source"]:
            args = wbase + ["--domain", BOX, "--grid", "3x3"]
            if where == "boundary":
                args += ["--boundary", ex]
            else:
                args += ["--boundary", "0", "--source", ex]
            add(f"wos-expr-{where}-{key}", "wos", args, expect="error", timeout=20)
    add("wos-expr-exact-div-zero", "wos", wbase + ["--domain", BOX, "--boundary", "x", "--grid",
                                                   "3x3", "--exact", "1/0"], expect="error")
    add("wos-expr-exact-bad", "wos", wbase + ["--domain", BOX, "--boundary", "x", "--grid",
                                              "3x3", "--exact", "x+"], expect="error")
    pts = {
        "nan": "0.5,nan\n", "inf": "inf,0.5\n", "outside": "0.5,0.5\n2,2\n",
        "on-boundary": "0,0.5\n", "one-column": "0.5\n", "three-columns": "0.5,0.5,0.5\n",
        "four-columns": "0.5,0.5,0.5,0.5\n", "ragged": "0.5,0.5\n0.5\n", "empty": "",
        "header-only": "x,y\n", "comments-only": "# nothing\n# here\n", "text": "a,b\nc,d\n",
        "garbage": garbage(2000, 31), "semicolons": "0.5;0.5\n", "spaces": "0.5 0.5\n",
        "trailing-comma": "0.5,0.5,\n", "crlf": "x,y\r\n0.5,0.5\r\n",
        "bom": "\ufeffx,y\n0.5,0.5\n", "huge-coord": "1e308,1e308\n", "nul": "0.5,0.5\x00\n",
        "two-headers": "x,y\nx,y\n0.5,0.5\n", "blank-lines": "\n\n0.5,0.5\n\n",
        "many-points": "".join(f"0.{i % 9 + 1},0.5\n" for i in range(100000)),
    }
    for key, content in pts.items():
        exp = None if key in ("crlf", "bom", "blank-lines", "many-points", "spaces",
                              "comments-only", "header-only", "empty", "on-boundary",
                              "two-headers", "trailing-comma") else "error"
        add(f"wos-points-{key}", "wos", ["wos", "--quiet", "--walks", "1", "--domain", BOX,
                                         "--boundary", "x", "--points", "p.csv"],
            files={"p.csv": content}, expect=exp, timeout=30)
    add("wos-points-missing", "wos", wbase + ["--domain", BOX, "--boundary", "x", "--points",
                                              "p.csv"], expect="error")
    add("wos-points-directory", "wos", wbase + ["--domain", BOX, "--boundary", "x", "--points",
                                                "d"], files={"d": ("dir",)}, expect="error")
    add("wos-points-3d-box-2d-points", "wos",
        wbase + ["--domain", "box:min=0,0,0;max=1,1,1", "--boundary", "x", "--points", "p.csv"],
        files={"p.csv": "0.5,0.5\n"}, expect="error")
    wflags = {
        "walks-0": ["--walks", "0"], "walks-neg": ["--walks", "-1"],
        "walks-huge": ["--walks", "1000000000000"],
        "walks-u64max": ["--walks", "18446744073709551615"],
        "grid-huge2d": ["--grid", "100000x100000"], "grid-huge3d": ["--grid", "3000x3000x3000"],
        "grid-0x10": ["--grid", "0x10"], "grid-1x1": ["--grid", "1x1"],
        "grid-4d": ["--grid", "2x2x2x2"], "grid-1d": ["--grid", "10"],
        "grid-3d-on-2d": ["--grid", "4x4x4"],
        "grid-and-points": ["--grid", "4x4", "--points", "p.csv"],
        "no-points-no-grid": [],
        "epsilon-0": ["--epsilon", "0"], "epsilon-neg": ["--epsilon", "-1"],
        "epsilon-nan": ["--epsilon", "nan"], "epsilon-huge": ["--epsilon", "1e9"],
        "maxsteps-0": ["--max-steps", "0"],
        "maxsteps-huge-eps0": ["--max-steps", "18446744073709551615", "--epsilon", "0"],
        "maxsteps-huge-eps-tiny": ["--max-steps", "1000000000000", "--epsilon", "1e-300"],
        "sigma-neg": ["--sigma", "-1"], "sigma-nan": ["--sigma", "nan"],
        "sigma-inf": ["--sigma", "inf"], "sigma-huge": ["--sigma", "1e300"],
        "gradient-with-sigma": ["--sigma", "1", "--gradient"],
        "cv-with-sigma": ["--sigma", "1", "--control-variates"],
        "device-cuda": ["--device", "cuda:0"], "device-bogus": ["--device", "tpu"],
        "device-cuda-huge": ["--device", "cuda:99999999999999999999"],
        "unfinished-bogus": ["--unfinished", "maybe"],
        "threads-0": ["--threads", "0"], "threads-huge": ["--threads", "99999999999"],
        "seed-neg": ["--seed", "-1"],
        "plot-with-points": ["--points", "p.csv", "--plot", "u.png"],
        "plot-3d": ["--domain", "box:min=0,0,0;max=1,1,1", "--grid", "3x3x3", "--plot",
                    "u.png"],
        "out-onto-points": ["--points", "p.csv", "--out", "p.csv"],
        "report-onto-points": ["--points", "./p.csv", "--report", "p.csv"],
        "out-missing-dir": ["--out", "missing/o.csv"],
        "out-onto-dir": ["--out", "d"],
        "plot-missing-dir-with-out": ["--out", "o.csv", "--report", "r.json", "--plot",
                                      "missing/u.png"],
        "out-equals-report": ["--out", "x", "--report", "x"],
        "mesh-plot": ["--domain", "mesh:m.obj", "--plot", "u.png"],
        "maxmem-tiny": ["--max-memory", "1"],
    }
    for key, extra in wflags.items():
        args = list(wbase) if "--walks" not in extra else ["wos", "--quiet"]
        if not any(a in ("--domain",) for a in extra):
            args += ["--domain", BOX]
        args += ["--boundary", "x"]
        if not any(a in ("--grid", "--points") for a in extra) and key != "no-points-no-grid":
            args += ["--grid", "3x3"]
        args += extra
        exp = None if key in ("grid-1x1", "epsilon-huge", "sigma-huge", "plot-3d",
                              "maxsteps-0", "maxsteps-huge-eps-tiny") else "error"
        files = {"p.csv": "0.5,0.5\n", "d": ("dir",),
                 "m.obj": "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"}
        add(f"wos-{key}", "wos", args, files=files, expect=exp, timeout=20)

    # ---------------- train --------------------------------------------------------------
    def cfg(name):
        return os.path.join(CONFIGS, name)

    # the exact --set of the pinn_run fixture (a resume must see the same config)
    FX_PINN = FIXTURE_CMDS[[n for n, _ in FIXTURE_CMDS].index("pinn_run")][1][2:-2]
    TINY_PINN = ["--set", 'train.optimizer=[{kind="adam",steps=3,lr=1e-3}]', "--set",
                 "sampling.interior=20", "--set", "sampling.boundary=8", "--set", "eval.grid=5"]
    pinn2d = cfg("pinn_poisson2d.toml")

    def tiny(config):
        base = os.path.basename(config)
        if base.startswith("pinn_"):
            t = TINY_PINN[:2] + ["--set", "sampling.interior=20"]
            if "100" in base:  # high-dimensional: no eval grid, test points instead
                return t + ["--set", "eval.test_points=10"]
            return t + ["--set", "eval.grid=5"]
        if base.startswith(("fno_", "deeponet_")):
            t = ["--set", "data.train=4", "--set", "data.test=2", "--set", "train.epochs=1",
                 "--set", "train.batch_size=2"]
            if base.startswith("fno_"):
                t += ["--set", "model.width=4", "--set", "model.modes=[4]", "--set",
                      "model.projection=8"]
            else:
                t += ["--set", "model.branch_conv=[4]", "--set", "model.branch_hidden=[8]",
                      "--set", "model.trunk_hidden=[8]", "--set", "model.basis=8"]
            if base == "fno_burgers.toml":
                t += ["--set", "data.subsample=1"]
            return t
        if base.startswith("inverse_"):
            return ["--set", "train.epochs=1", "--set", "train.batch_size=2", "--set",
                    "tuning.steps=1", "--set", "model.width=4", "--set", "model.modes=4",
                    "--set", "model.features=8", "--set", "model.head_hidden=8", "--set",
                    "model.projection=8"]
        if base.startswith("dcdm_"):
            return ["--set", 'grid="12x12"', "--set", "data.file=dc.h5", "--set",
                    "data.lanczos_steps=20", "--set", "data.samples=16", "--set",
                    "train.steps=2", "--set", "train.validation=2", "--set", "model.levels=2",
                    "--set", "model.channels=4"] + \
                (["--set", "data.mask_count=2"] if "obstacles" in base else [])
        if base.startswith(("wosno_", "pino_")):
            return ["--set", "train.steps=2", "--set", "train.batch_size=2", "--set",
                    "train.points=16", "--set", "train.walks=2", "--set", "test.instances=2",
                    "--set", "test.walks=4", "--set", "grid.points=16", "--set",
                    "model.width=4", "--set", "model.modes=4", "--set", "model.projection=8"]
        return []
    train_sets = {
        # unknown keys / wrong types / malformed --set
        "unknown-key": (pinn2d, ["--set", "model.hiddn=[8]"]),
        "unknown-top": (pinn2d, ["--set", "foo=1"]),
        "unknown-section": (pinn2d, ["--set", "bogus.key=1"]),
        "set-no-equals": (pinn2d, ["--set", "model.hidden"]),
        "set-empty-key": (pinn2d, ["--set", "=5"]),
        "set-empty-value": (pinn2d, ["--set", "model.hidden="]),
        "set-bad-toml": (pinn2d, ["--set", "model.hidden=[1,"]),
        "set-double-dot": (pinn2d, ["--set", "model..hidden=[8]"]),
        "set-table-to-scalar": (pinn2d, ["--set", "model=5"]),
        "set-into-array": (pinn2d, ["--set", "train.optimizer.kind=adam"]),
        "set-into-array-index": (pinn2d, ["--set", "train.optimizer.0.steps=5"]),
        "hidden-string": (pinn2d, ["--set", 'model.hidden="abc"']),
        "hidden-int": (pinn2d, ["--set", "model.hidden=8"]),
        "hidden-float": (pinn2d, ["--set", "model.hidden=[8.5]"]),
        "hidden-empty": (pinn2d, ["--set", "model.hidden=[]"]),
        "hidden-zero": (pinn2d, ["--set", "model.hidden=[0]"]),
        "hidden-neg": (pinn2d, ["--set", "model.hidden=[-1]"]),
        "hidden-huge": (pinn2d, ["--set", "model.hidden=[100000,100000]"]),
        "hidden-huge-1": (pinn2d, ["--set", "model.hidden=[1000000000]"]),
        "hidden-deep": (pinn2d, ["--set", "model.hidden=[" + ",".join(["4"] * 60000) + "]"]),
        "hidden-mid-8g": (pinn2d, ["--set", "model.hidden=[40000,40000]"]),
        "activation-bogus": (pinn2d, ["--set", 'model.activation="swish9"']),
        "precision-bogus": (pinn2d, ["--set", 'model.precision="f8"']),
        "fourier-neg": (pinn2d, ["--set", "model.fourier_features=-1"]),
        "fourier-huge": (pinn2d, ["--set", "model.fourier_features=1000000000"]),
        "interior-neg": (pinn2d, ["--set", "sampling.interior=-5"]),
        "interior-zero": (pinn2d, ["--set", "sampling.interior=0"]),
        "interior-float": (pinn2d, ["--set", "sampling.interior=1e20"]),
        "interior-overflow": (pinn2d, ["--set", "sampling.interior=99999999999999999999"]),
        "interior-huge": (pinn2d, ["--set", "sampling.interior=10000000000"]),
        "boundary-zero": (pinn2d, ["--set", "sampling.boundary=0"]),
        "method-bogus": (pinn2d, ["--set", 'sampling.method="sobolish"']),
        "resample-neg": (pinn2d, ["--set", "sampling.resample_every=-1"]),
        "seed-string": (pinn2d, ["--set", 'train.seed="x"']),
        "seed-neg": (pinn2d, ["--set", "train.seed=-1"]),
        "eval-grid-huge": (pinn2d, ["--set", "eval.grid=100000"]),
        "eval-grid-zero": (pinn2d, ["--set", "eval.grid=0"]),
        "eval-grid-one": (pinn2d, ["--set", "eval.grid=1"]),
        "eval-grid-neg": (pinn2d, ["--set", "eval.grid=-1"]),
        "eval-test-points-huge": (pinn2d, ["--set", "eval.test_points=100000000000"]),
        "exact-div-zero": (pinn2d, ["--set", 'problem.exact="1/0"']),
        "exact-log-neg": (pinn2d, ["--set", 'problem.exact="log(x-5)"']),
        "exact-syntax": (pinn2d, ["--set", 'problem.exact="x+"']),
        "source-log-neg": (pinn2d, ["--set", 'problem.source="log(x-5)"']),
        "source-empty": (pinn2d, ["--set", 'problem.source=""']),
        "source-nan": (pinn2d, ["--set", 'problem.source="nan"']),
        "source-overflow": (pinn2d, ["--set", 'problem.source="1e400"']),
        "source-unknown-var": (pinn2d, ["--set", 'problem.source="q*x"']),
        "source-t-in-steady": (pinn2d, ["--set", 'problem.source="t"']),
        "source-number": (pinn2d, ["--set", "problem.source=5"]),
        "boundary-div-zero": (pinn2d, ["--set",
                                       'problem.boundary=[{kind="dirichlet",value="1/0"}]']),
        "boundary-kind-bogus": (pinn2d, ["--set",
                                         'problem.boundary=[{kind="robin9",value="0"}]']),
        "boundary-empty-list": (pinn2d, ["--set", "problem.boundary=[]"]),
        "domain-degenerate": (pinn2d, ["--set", 'problem.domain="box:min=0,0;max=0,0"']),
        "domain-garbage": (pinn2d, ["--set", 'problem.domain="blob"']),
        "domain-ball-dim0": (pinn2d, ["--set", 'problem.domain="ball:dim=0"']),
        "domain-ball-dim-huge": (pinn2d, ["--set", 'problem.domain="ball:dim=100000000"']),
        "domain-3d-with-2d-exact": (pinn2d, ["--set", 'problem.domain="box:min=0,0,0;max=1,1,1"']),
        "pde-bogus": (pinn2d, ["--set", 'problem.pde="navier-stokes"']),
        "task-bogus": (pinn2d, ["--set", 'task="dance"']),
        "task-empty": (pinn2d, ["--set", 'task=""']),
        "task-operator-on-pinn": (pinn2d, ["--set", 'task="operator"']),
        "device-cuda": (pinn2d, ["--set", 'device="cuda:0"']),
        "device-bogus": (pinn2d, ["--set", 'device="tpu"']),
        "optimizer-none": (pinn2d, ["--set", "train.optimizer=[]"]),
        "optimizer-sgd": (pinn2d, ["--set", 'train.optimizer=[{kind="sgd",steps=5}]']),
        "optimizer-steps-neg": (pinn2d, ["--set", 'train.optimizer=[{kind="adam",steps=-1}]']),
        "optimizer-steps-zero": (pinn2d, ["--set", 'train.optimizer=[{kind="adam",steps=0}]']),
        "optimizer-lr-neg": (pinn2d, ["--set",
                                      'train.optimizer=[{kind="adam",steps=5,lr=-1.0}]']),
        "optimizer-lr-nan": (pinn2d, ["--set",
                                      'train.optimizer=[{kind="adam",steps=5,lr=nan}]']),
        "optimizer-lr-inf": (pinn2d, ["--set",
                                      'train.optimizer=[{kind="adam",steps=5,lr=inf}]']),
        "optimizer-lr-huge": (pinn2d, ["--set",
                                       'train.optimizer=[{kind="adam",steps=20,lr=1e30}]']),
        "optimizer-lbfgs-zero": (pinn2d, ["--set",
                                          'train.optimizer=[{kind="lbfgs",iterations=0}]']),
        "optimizer-lbfgs-neg": (pinn2d, ["--set",
                                         'train.optimizer=[{kind="lbfgs",iterations=-5}]']),
        "optimizer-missing-kind": (pinn2d, ["--set", "train.optimizer=[{steps=5}]"]),
        "optimizer-unknown-field": (pinn2d, ["--set",
                                             'train.optimizer=[{kind="adam",steps=5,lrr=1}]']),
        "optimizer-not-array": (pinn2d, ["--set", 'train.optimizer="adam"']),
        "optimizer-beta-bad": (pinn2d, ["--set",
                                        'train.optimizer=[{kind="adam",steps=5,beta1=1.5}]']),
        "schedule-bogus": (pinn2d, ["--set", 'train.optimizer=[{kind="adam",steps=5,'
                                    'schedule={kind="zigzag"}}]']),
        "log-every-zero": (pinn2d, ["--set", "train.log_every=0"]),
        "checkpoint-every-zero": (pinn2d, ["--set", "train.checkpoint_every=0"]),
        "checkpoint-every-neg": (pinn2d, ["--set", "train.checkpoint_every=-1"]),
        "rar-every-zero": (cfg("pinn_burgers1d.toml"),
                           ["--set", "sampling.rar={every=0,candidates=10,add=5,max_points=100}"]),
        "rar-huge-candidates": (cfg("pinn_burgers1d.toml"),
                                ["--set", "sampling.rar={every=1,candidates=100000000000,"
                                 "add=5,max_points=100}"]),
        "burgers-nu-neg": (cfg("pinn_burgers1d.toml"), ["--set", "problem.nu=-1"]),
        "burgers-time-reversed": (cfg("pinn_burgers1d.toml"), ["--set", "problem.time=[1.0,0.0]"]),
        "burgers-time-nan": (cfg("pinn_burgers1d.toml"), ["--set", "problem.time=[0.0,nan]"]),
        "burgers-builtin-bogus": (cfg("pinn_burgers1d.toml"), ["--set",
                                                               'problem.builtin="nope"']),
        "heat-alpha-neg": (cfg("pinn_heat2d.toml"), ["--set", "problem.alpha=-0.1"]),
        "heat-initial-bad": (cfg("pinn_heat2d.toml"), ["--set", 'problem.initial="log(x-5)"']),
        "helmholtz-k-nan": (cfg("pinn_helmholtz2d.toml"), ["--set", "problem.k=nan"]),
        "highd-sdgd-neg": (cfg("pinn_poisson_100d.toml"), ["--set", "loss.sdgd_dims=-1"]),
        "highd-sdgd-too-many": (cfg("pinn_poisson_100d.toml"), ["--set",
                                                                "loss.sdgd_dims=1000000"]),
        "highd-dim-huge": (cfg("pinn_poisson_100d.toml"),
                           ["--set", 'problem.domain="ball:dim=100000000"']),
        "highd-test-points-huge": (cfg("pinn_poisson_100d.toml"),
                                   ["--set", "eval.test_points=100000000000"]),
        "highd-builtin-bogus": (cfg("pinn_poisson_100d.toml"),
                                ["--set", 'problem.builtin="three-body"']),
        "star-domain-bad": (cfg("pinn_poisson_star.toml"), ["--set",
                                                            'problem.domain="star:c1=5"']),
        # operator
        "op-missing-data": (cfg("fno_darcy.toml"), []),
        "op-data-garbage": (cfg("fno_darcy.toml"), ["--set", "data.file=g.h5"]),
        "op-data-dir": (cfg("fno_darcy.toml"), ["--set", "data.file=d"]),
        "op-data-text": (cfg("fno_darcy.toml"), ["--set", "data.file=t.h5"]),
        "op-data-truncated": (cfg("fno_darcy.toml"), ["--set", "data.file=tr.h5"]),
        "op-data-nan": (cfg("fno_darcy.toml"), ["--set", "data.file=nan.h5", "--set",
                                                "data.train=4", "--set", "data.test=2"]),
        "op-layout-mismatch": (cfg("fno_burgers.toml"), ["--set", "data.file=darcy.h5"]),
        "op-layout-bogus": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                    'data.layout="spiral"']),
        "op-train-zero": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                  "data.train=0", "--set", "data.test=2"]),
        "op-train-too-many": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                      "data.train=1000", "--set",
                                                      "data.test=200"]),
        "op-test-zero": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                 "data.train=4", "--set", "data.test=0"]),
        "op-train-neg": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                 "data.train=-1"]),
        "op-modes-zero": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                  "data.train=4", "--set", "data.test=2",
                                                  "--set", "model.modes=[0]"]),
        "op-modes-huge": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                  "data.train=4", "--set", "data.test=2",
                                                  "--set", "model.modes=[1000]"]),
        "op-width-zero": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                  "data.train=4", "--set", "data.test=2",
                                                  "--set", "model.width=0"]),
        "op-width-huge": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                  "data.train=4", "--set", "data.test=2",
                                                  "--set", "model.width=100000"]),
        "op-layers-zero": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                   "data.train=4", "--set", "data.test=2",
                                                   "--set", "model.layers=0"]),
        "op-batch-zero": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                  "data.train=4", "--set", "data.test=2",
                                                  "--set", "train.batch_size=0"]),
        "op-epochs-zero": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                   "data.train=4", "--set", "data.test=2",
                                                   "--set", "train.epochs=0"]),
        "op-lr-neg": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                              "data.train=4", "--set", "data.test=2",
                                              "--set", "train.lr=-1.0"]),
        "op-padding-neg": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                   "data.train=4", "--set", "data.test=2",
                                                   "--set", "model.padding=-0.5"]),
        "op-kind-bogus": (cfg("fno_darcy.toml"), ["--set", "data.file=darcy.h5", "--set",
                                                  'model.kind="transformer"']),
        "op-subsample-zero": (cfg("fno_burgers.toml"), ["--set", "data.file=burgers.h5",
                                                        "--set", "data.subsample=0"]),
        "op-step-out-of-range": (cfg("fno_burgers.toml"), ["--set", "data.file=burgers.h5",
                                                           "--set", "data.train=2", "--set",
                                                           "data.test=2", "--set",
                                                           "data.target_step=999"]),
        "op-step-neg-out-of-range": (cfg("fno_burgers.toml"),
                                     ["--set", "data.file=burgers.h5", "--set", "data.train=2",
                                      "--set", "data.test=2", "--set",
                                      "data.input_step=-999"]),
        "deeponet-basis-zero": (cfg("deeponet_darcy.toml"),
                                ["--set", "data.file=darcy.h5", "--set", "data.train=4",
                                 "--set", "data.test=2", "--set", "model.basis=0"]),
        "deeponet-conv-huge": (cfg("deeponet_darcy.toml"),
                               ["--set", "data.file=darcy.h5", "--set", "data.train=4",
                                "--set", "data.test=2", "--set",
                                "model.branch_conv=[100000,100000]"]),
        # inverse
        "inv-missing-folder": (cfg("inverse_kdv.toml"), []),
        "inv-folder-is-file": (cfg("inverse_kdv.toml"), ["--set", "data.folder=t.h5"]),
        "inv-folder-empty": (cfg("inverse_kdv.toml"), ["--set", "data.folder=d"]),
        "inv-npast-zero": (cfg("inverse_kdv.toml"), ["--set", "data.folder=kdv", "--set",
                                                     "data.n_past=0"]),
        "inv-npast-huge": (cfg("inverse_kdv.toml"), ["--set", "data.folder=kdv", "--set",
                                                     "data.n_past=1000"]),
        "inv-stride-zero": (cfg("inverse_kdv.toml"), ["--set", "data.folder=kdv", "--set",
                                                      "data.window_stride=0"]),
        "inv-rd-on-kdv": (cfg("inverse_rd.toml"), ["--set", "data.folder=kdv"]),
        "inv-tuning-steps-neg": (cfg("inverse_kdv.toml"), ["--set", "data.folder=kdv",
                                                           "--set", "tuning.steps=-1"]),
        # dcdm
        "dcdm-grid-hex": (cfg("dcdm_poisson64.toml"), ["--set", "grid=0x10"]),
        "dcdm-grid-0x10": (cfg("dcdm_poisson64.toml"), ["--set", 'grid="0x10"']),
        "dcdm-grid-huge": (cfg("dcdm_poisson64.toml"), ["--set", 'grid="100000x100000"']),
        "dcdm-grid-3d": (cfg("dcdm_poisson64.toml"), ["--set", 'grid="8x8x8"']),
        "dcdm-grid-int": (cfg("dcdm_poisson64.toml"), ["--set", "grid=64"]),
        "dcdm-lanczos-zero": (cfg("dcdm_poisson64.toml"), ["--set", "data.lanczos_steps=0"]),
        "dcdm-samples-zero": (cfg("dcdm_poisson64.toml"), ["--set", "data.samples=0"]),
        "dcdm-masks-bogus": (cfg("dcdm_obstacles64.toml"), ["--set", 'data.masks="circles"']),
        "dcdm-levels-huge": (cfg("dcdm_poisson64.toml"), ["--set", "model.levels=40"]),
        "dcdm-channels-huge": (cfg("dcdm_poisson64.toml"), ["--set", "model.channels=1000000"]),
        "dcdm-data-file-dir": (cfg("dcdm_poisson64.toml"), ["--set", "data.file=d"]),
        "dcdm-data-file-garbage": (cfg("dcdm_poisson64.toml"), ["--set", "data.file=g.h5"]),
        "dcdm-loss-bogus": (cfg("dcdm_poisson64.toml"), ["--set", 'train.loss="l7"']),
        # wosno
        "wosno-points-zero": (cfg("wosno_poisson_star.toml"), ["--set", "grid.points=0"]),
        "wosno-points-huge": (cfg("wosno_poisson_star.toml"), ["--set", "grid.points=100000"]),
        "wosno-halfwidth-zero": (cfg("wosno_poisson_star.toml"), ["--set",
                                                                  "grid.half_width=0.0"]),
        "wosno-halfwidth-small": (cfg("wosno_poisson_star.toml"), ["--set",
                                                                   "grid.half_width=0.1"]),
        "wosno-walks-zero": (cfg("wosno_poisson_star.toml"), ["--set", "train.walks=0"]),
        "wosno-test-zero": (cfg("wosno_poisson_star.toml"), ["--set", "test.instances=0"]),
        "wosno-maxsteps-zero": (cfg("wosno_poisson_star.toml"), ["--set",
                                                                 "train.max_steps=0"]),
        "wosno-epsilon-zero": (cfg("wosno_poisson_star.toml"), ["--set", "train.epsilon=0.0"]),
        "wosno-loss-bogus": (cfg("wosno_poisson_star.toml"), ["--set", 'train.loss="magic"']),
        "wosno-batch-zero": (cfg("wosno_poisson_star.toml"), ["--set", "train.batch_size=0"]),
        "pino-boundary-points-zero": (cfg("pino_poisson_star.toml"),
                                      ["--set", "train.boundary_points=0"]),
    }
    train_files = {"g.h5": garbage(4096, 41), "d": ("dir",), "t.h5": "just text\n",
                   "tr.h5": ("fx", "darcy16_trunc.h5"), "nan.h5": ("fx", "darcy16_nan.h5"),
                   "darcy.h5": ("fx", "darcy16.h5"), "burgers.h5": ("fx", "burgers.h5"),
                   "kdv": ("fx", "kdv")}
    valid_ish = {"seed-neg", "eval-grid-one", "optimizer-lbfgs-zero", "optimizer-steps-zero",
                 "hidden-float", "log-every-zero", "checkpoint-every-zero", "dcdm-grid-3d",
                 "domain-3d-with-2d-exact", "inv-rd-on-kdv"}
    for key, (config, sets) in train_sets.items():
        # tiny settings first (the case's own --set come later and win), so that a mutation
        # the CLI does not catch ends in a second instead of a long training run
        add(f"train-{key}", "train", ["train", config] + tiny(config) + sets + ["--out", "run"],
            files=train_files, expect=None if key in valid_ish else "error",
            timeout=60 if key == "hidden-deep" else 25,
            forbid=r"\b16(x16)?\b" if key == "dcdm-grid-hex" else None)
    # config files themselves
    cfg_files = {
        "empty": "", "garbage": garbage(3000, 51), "syntax": "task = [\n",
        "duplicate-key": 'task = "pinn"\ntask = "pinn"\n',
        "unknown-table": open(pinn2d).read() + "\n[frobnicate]\nx = 1\n",
        "no-task": open(pinn2d).read().replace('task = "pinn"', ""),
        "latin1": b'task = "pinn" # caf\xe9\n',
        "bom": "\ufeff" + open(pinn2d).read(),
    }
    for key, content in cfg_files.items():
        exp = None if key in ("bom", "no-task") else "error"
        add(f"train-config-{key}", "train", ["train", "c.toml"] + TINY_PINN + ["--out", "run"],
            files={"c.toml": content}, expect=exp, timeout=25)
    add("train-config-missing", "train", ["train", "nope.toml", "--out", "run"], expect="error")
    add("train-config-directory", "train", ["train", "d", "--out", "run"],
        files={"d": ("dir",)}, expect="error")
    add("train-config-h5", "train", ["train", "x.h5", "--out", "run"],
        files={"x.h5": ("fx", "darcy16.h5")}, expect="error")
    add("train-out-is-file", "train", ["train", pinn2d] + TINY_PINN + ["--out", "f"],
        files={"f": "a file\n"}, expect="error")
    add("train-out-existing-run-no-resume", "train", ["train", pinn2d] + TINY_PINN +
        ["--out", "run"], files={"run": ("fx", "pinn_run")}, expect="error")
    add("train-out-empty", "train", ["train", pinn2d] + TINY_PINN + ["--out", ""], expect="error")
    add("train-out-under-file", "train", ["train", pinn2d] + TINY_PINN + ["--out", "f/run"],
        files={"f": "a file\n"}, expect="error")
    add("train-resume-missing", "train", ["train", pinn2d] + FX_PINN + ["--resume", "--out", "run"],
        expect="error")
    add("train-resume-empty-dir", "train", ["train", pinn2d] + FX_PINN + ["--resume", "--out", "run"],
        files={"run": ("dir",)}, expect="error")
    add("train-resume-garbage-ckpt", "train", ["train", pinn2d] + FX_PINN +
        ["--resume", "--out", "run"], files={"run": ("fx", "pinn_badckpt")}, expect="error")
    add("train-resume-truncated-ckpt", "train", ["train", pinn2d] + FX_PINN +
        ["--resume", "--out", "run"], files={"run": ("fx", "pinn_truncckpt")}, expect="error")
    add("train-resume-other-config", "train", ["train", cfg("pinn_heat2d.toml"), "--resume",
                                               "--out", "run"],
        files={"run": ("fx", "pinn_run")}, expect="error")
    add("train-resume-changed-set", "train", ["train", pinn2d] + TINY_PINN +
        ["--set", "model.hidden=[8]", "--resume", "--out", "run"],
        files={"run": ("fx", "pinn_run")}, expect="error")
    add("train-resume-no-config", "train", ["train", pinn2d] + FX_PINN + ["--resume", "--out", "run"],
        files={"run": ("fx", "pinn_noconfig")}, expect="error")
    add("train-set-without-value-flag", "train", ["train", pinn2d, "--set"], expect="error")
    add("train-maxmem-tiny", "train", ["train", pinn2d] + TINY_PINN + ["--max-memory", "1K",
                                                                       "--out", "run"],
        expect="error")
    add("train-resume-completed-run", "train", ["train", pinn2d] + FX_PINN + ["--resume", "--out",
        "run"], files={"run": ("fx", "pinn_run")}, mutable={"run/" + f for f in (
            "checkpoint.safetensors", "metrics.csv", "summary.json", "loss.png", "error.png",
            "solution.png")}, note="resuming a finished run: any clean outcome is fine")
    add("train-tiny-valid", "train", ["train", pinn2d] + TINY_PINN + ["--out", "run"],
        expect="ok")
    add("train-sigint-exit-code", "train",
        ["train", pinn2d, "--set", 'train.optimizer=[{kind="adam",steps=100000000,lr=1e-3}]',
         "--set", "sampling.interior=50", "--set", "sampling.boundary=20", "--set",
         "eval.grid=5", "--out", "run"], sigint_after=2.0, timeout=30, expect="error",
        partial_ok=(130,), multiline_ok=True,
        note="Ctrl-C during training must exit non-zero (e.g. 130) with the checkpoint kept")

    # ---------------- eval ---------------------------------------------------------------
    ev_pts = {
        "nan": "x,y\nnan,0.5\n", "inf": "x,y\ninf,0.5\n", "empty": "", "header-only": "x,y\n",
        "wrong-names": "a,b\n0.5,0.5\n", "missing-col": "x\n0.5\n",
        "extra-col": "x,y,z\n0.5,0.5,0.5\n", "dup-header": "x,x\n0.5,0.5\n",
        "text": "x,y\nfoo,bar\n", "huge": "x,y\n1e308,1e308\n", "crlf": "x,y\r\n0.5,0.5\r\n",
        "bom": "\ufeffx,y\n0.5,0.5\n", "garbage": garbage(2000, 61), "ragged": "x,y\n0.5\n",
        "no-header": "0.5,0.5\n", "reordered": "y,x\n0.2,0.1\n", "t-col-steady": "x,y,t\n0.5,0.5,0\n",
        "spaces-in-header": " x , y \n0.5,0.5\n", "outside-domain": "x,y\n5,5\n",
        "many": "x,y\n" + "".join(f"0.{i % 9},0.5\n" for i in range(200000)),
    }
    for key, content in ev_pts.items():
        exp = None if key in ("crlf", "bom", "reordered", "outside-domain", "many",
                              "spaces-in-header", "header-only", "huge") else "error"
        add(f"eval-points-{key}", "eval", ["eval", "run", "--points", "p.csv", "--out", "o.csv"],
            files={"run": ("fx", "pinn_run"), "p.csv": content}, expect=exp)
    P = {"p.csv": "x,y\n0.5,0.5\n"}
    evals = {
        "run-missing": (["eval", "nope", "--points", "p.csv", "--out", "o.csv"], P),
        "run-is-file": (["eval", "p.csv", "--points", "p.csv", "--out", "o.csv"], P),
        "run-empty-dir": (["eval", "d", "--points", "p.csv", "--out", "o.csv"],
                          dict(P, d=("dir",))),
        "run-garbage-ckpt": (["eval", "run", "--points", "p.csv", "--out", "o.csv"],
                             dict(P, run=("fx", "pinn_badckpt"))),
        "run-truncated-ckpt": (["eval", "run", "--points", "p.csv", "--out", "o.csv"],
                               dict(P, run=("fx", "pinn_truncckpt"))),
        "run-no-ckpt": (["eval", "run", "--points", "p.csv", "--out", "o.csv"],
                        dict(P, run=("fx", "pinn_nockpt"))),
        "run-old-no-config": (["eval", "run", "--points", "p.csv", "--out", "o.csv"],
                              dict(P, run=("fx", "pinn_old_noconfig"))),
        "run-old-bad-config": (["eval", "run", "--points", "p.csv", "--out", "o.csv"],
                               dict(P, run=("fx", "pinn_old_badconfig"))),
        "op-wrong-ckpt": (["eval", "run", "--input", "i.h5", "--out", "o.h5"],
                          {"run": ("fx", "op_wrongckpt"), "i.h5": ("fx", "darcy16.h5")}),
        "pinn-with-input": (["eval", "run", "--input", "i.h5", "--out", "o.h5"],
                            {"run": ("fx", "pinn_run"), "i.h5": ("fx", "darcy16.h5")}),
        "op-with-points": (["eval", "run", "--points", "p.csv", "--out", "o.csv"],
                           dict(P, run=("fx", "op_run"))),
        "both-points-and-input": (["eval", "run", "--points", "p.csv", "--input", "i.h5",
                                   "--out", "o.csv"],
                                  dict(P, run=("fx", "pinn_run"), **{"i.h5": ("fx", "darcy16.h5")})),
        "neither": (["eval", "run", "--out", "o.csv"], {"run": ("fx", "pinn_run")}),
        "out-onto-points": (["eval", "run", "--points", "p.csv", "--out", "p.csv"],
                            dict(P, run=("fx", "pinn_run"))),
        "out-onto-points-dotslash": (["eval", "run", "--points", "p.csv", "--out", "./p.csv"],
                                     dict(P, run=("fx", "pinn_run"))),
        "out-onto-checkpoint": (["eval", "run", "--points", "p.csv", "--out",
                                 "run/checkpoint.safetensors"], dict(P, run=("fx", "pinn_run"))),
        "out-onto-config": (["eval", "run", "--points", "p.csv", "--out", "run/config.toml"],
                            dict(P, run=("fx", "pinn_run"))),
        "out-onto-input": (["eval", "run", "--input", "i.h5", "--out", "i.h5"],
                           {"run": ("fx", "op_run"), "i.h5": ("fx", "darcy16.h5")}),
        "out-missing-dir": (["eval", "run", "--points", "p.csv", "--out", "missing/o.csv"],
                            dict(P, run=("fx", "pinn_run"))),
        "out-onto-dir": (["eval", "run", "--points", "p.csv", "--out", "d"],
                         dict(P, run=("fx", "pinn_run"), d=("dir",))),
        "points-missing": (["eval", "run", "--points", "nope.csv", "--out", "o.csv"],
                           {"run": ("fx", "pinn_run")}),
        "points-dir": (["eval", "run", "--points", "d", "--out", "o.csv"],
                       {"run": ("fx", "pinn_run"), "d": ("dir",)}),
        "maxmem-tiny": (["eval", "run", "--points", "p.csv", "--out", "o.csv", "--max-memory",
                         "1"], dict(P, run=("fx", "pinn_run"))),
    }
    for key, (args, files) in evals.items():
        add(f"eval-{key}", "eval", args, files=files, expect="error")
    # A checkpoint written by this release describes its model: the run evaluates without its
    # config.toml, or with a broken one (the checkpoint's own copy is used).
    for key, fx in (("run-no-config", "pinn_noconfig"), ("run-bad-config", "pinn_badconfig")):
        add(f"eval-{key}", "eval", ["eval", "run", "--points", "p.csv", "--out", "o.csv"],
            files=dict(P, run=("fx", fx)), expect=None)
    ev_in = {
        "nan": "darcy16_nan.h5", "inf": "darcy16_inf.h5", "huge": "darcy16_huge.h5",
        "negative-coeff": "darcy16_neg.h5", "truncated": "darcy16_trunc.h5",
        "head-only": "darcy16_head.h5", "zeros": "darcy16_zero.h5", "bad-superblock":
        "darcy16_sb.h5", "bitflips": "darcy16_flip.h5", "other-S": "darcy32.h5",
        "burgers-layout": "burgers.h5", "poisson-out": "sol.h5", "mask": None,
        "kdv-file": "kdv1.h5",
    }
    for key, fx in ev_in.items():
        src = MASK if fx is None else ("fx", fx)
        exp = None if key in ("other-S", "huge", "negative-coeff") else "error"
        add(f"eval-input-{key}", "eval", ["eval", "run", "--input", "i.h5", "--out", "o.h5"],
            files={"run": ("fx", "op_run"), "i.h5": src}, expect=exp)
    for key, content in [("text", "not hdf5\n"), ("empty", ""), ("garbage", garbage(5000, 71))]:
        add(f"eval-input-{key}", "eval", ["eval", "run", "--input", "i.h5", "--out", "o.h5"],
            files={"run": ("fx", "op_run"), "i.h5": content}, expect="error")
    add("eval-input-missing", "eval", ["eval", "run", "--input", "i.h5", "--out", "o.h5"],
        files={"run": ("fx", "op_run")}, expect="error")
    add("eval-input-dev-zero", "eval", ["eval", "run", "--input", "/dev/zero", "--out", "o.h5"],
        files={"run": ("fx", "op_run")}, expect="error", timeout=20)
    add("eval-input-1d-darcy-model", "eval", ["eval", "run", "--input", "i.h5", "--out", "o.h5"],
        files={"run": ("fx", "op1d_run"), "i.h5": ("fx", "darcy16.h5")}, expect="error")
    add("eval-input-1d-nan-free-ok", "eval", ["eval", "run", "--input", "i.h5", "--out", "o.h5"],
        files={"run": ("fx", "op1d_run"), "i.h5": ("fx", "burgers.h5")}, expect="ok")
    add("eval-input-out-missing-dir", "eval",
        ["eval", "run", "--input", "i.h5", "--out", "missing/o.h5"],
        files={"run": ("fx", "op_run"), "i.h5": ("fx", "darcy16.h5")}, expect="error")
    add("eval-dcdm-run", "eval", ["eval", "run", "--points", "p.csv", "--out", "o.csv"],
        files=dict(P, run=("fx", "dcdm_run")), expect="error")

    # ---------------- datagen ------------------------------------------------------------
    dg = {
        "darcy-samples-0": ["darcy", "--samples", "0", "--resolution", "8"],
        "darcy-samples-neg": ["darcy", "--samples", "-1"],
        "darcy-samples-huge": ["darcy", "--samples", "1000000000000"],
        "darcy-samples-u64max": ["darcy", "--samples", "18446744073709551615"],
        "darcy-samples-mid": ["darcy", "--samples", "3000000", "--resolution", "32"],
        "darcy-samples-missing": ["darcy"],
        "darcy-res-0": ["darcy", "--samples", "2", "--resolution", "0"],
        "darcy-res-1": ["darcy", "--samples", "2", "--resolution", "1"],
        "darcy-res-2": ["darcy", "--samples", "2", "--resolution", "2"],
        "darcy-res-3": ["darcy", "--samples", "2", "--resolution", "3"],
        "darcy-res-huge": ["darcy", "--samples", "2", "--resolution", "100000"],
        "darcy-res-u64max": ["darcy", "--samples", "2", "--resolution", "18446744073709551615"],
        "darcy-tol-0": ["darcy", "--samples", "2", "--resolution", "8", "--tol", "0"],
        "darcy-tol-neg": ["darcy", "--samples", "2", "--tol", "-1"],
        "darcy-tol-nan": ["darcy", "--samples", "2", "--tol", "nan"],
        "darcy-tol-1": ["darcy", "--samples", "2", "--resolution", "8", "--tol", "1"],
        "darcy-tol-tiny": ["darcy", "--samples", "2", "--resolution", "8", "--tol", "1e-300"],
        "darcy-threads-0": ["darcy", "--samples", "2", "--resolution", "8", "--threads", "0"],
        "darcy-threads-huge": ["darcy", "--samples", "2", "--threads", "99999999999"],
        "darcy-seed-neg": ["darcy", "--samples", "2", "--seed", "-1"],
        "burgers-res-0": ["burgers", "--samples", "2", "--resolution", "0"],
        "burgers-res-1": ["burgers", "--samples", "2", "--resolution", "1"],
        "burgers-res-3": ["burgers", "--samples", "2", "--resolution", "3", "--steps", "3"],
        "burgers-res-huge": ["burgers", "--samples", "2", "--resolution", "1000000000"],
        "burgers-nu-0": ["burgers", "--samples", "1", "--resolution", "32", "--nu", "0",
                         "--steps", "3"],
        "burgers-nu-neg": ["burgers", "--samples", "1", "--nu", "-1"],
        "burgers-nu-nan": ["burgers", "--samples", "1", "--nu", "nan"],
        "burgers-steps-0": ["burgers", "--samples", "1", "--steps", "0"],
        "burgers-steps-1": ["burgers", "--samples", "1", "--resolution", "32", "--steps", "1"],
        "burgers-steps-huge": ["burgers", "--samples", "1", "--steps", "1000000000000"],
        "burgers-tfinal-0": ["burgers", "--samples", "1", "--resolution", "32", "--t-final",
                             "0", "--steps", "3"],
        "burgers-tfinal-neg": ["burgers", "--samples", "1", "--t-final", "-1"],
        "burgers-tfinal-inf": ["burgers", "--samples", "1", "--t-final", "inf"],
        "burgers-tfinal-huge": ["burgers", "--samples", "1", "--t-final", "1e300"],
        "burgers-maxdt-0": ["burgers", "--samples", "1", "--max-dt", "0"],
        "burgers-maxdt-neg": ["burgers", "--samples", "1", "--max-dt", "-1"],
        "burgers-maxdt-tiny": ["burgers", "--samples", "1", "--resolution", "32",
                               "--max-dt", "1e-300"],
        "burgers-samples-huge": ["burgers", "--samples", "1000000000000"],
        "rd-all-zero": ["reaction-diffusion", "--train", "0", "--validation", "0", "--test", "0",
                        "--ood", "0", "--extreme", "0", "--trajectories", "1"],
        "rd-trajectories-0": ["reaction-diffusion", "--train", "1", "--validation", "1",
                              "--test", "1", "--ood", "1", "--extreme", "1",
                              "--trajectories", "0"],
        "rd-res-0": ["reaction-diffusion", "--resolution", "0", "--train", "1"],
        "rd-res-huge": ["reaction-diffusion", "--resolution", "1000000", "--train", "1",
                        "--trajectories", "1"],
        "rd-steps-0": ["reaction-diffusion", "--steps", "0", "--train", "1", "--trajectories",
                       "1"],
        "rd-tfinal-neg": ["reaction-diffusion", "--t-final", "-1", "--train", "1"],
        "rd-burnin-nan": ["reaction-diffusion", "--burn-in", "nan", "--train", "1"],
        "rd-maxdt-0": ["reaction-diffusion", "--max-dt", "0", "--train", "1"],
        "rd-boundary-bogus": ["reaction-diffusion", "--boundary", "dirichlet", "--train", "1"],
        "rd-split-bogus": ["reaction-diffusion", "--split-by", "q", "--train", "1"],
        "rd-train-huge": ["reaction-diffusion", "--train", "1000000000000", "--trajectories",
                          "1000000"],
        "kdv-length-0": ["kdv", "--length", "0", "--train", "1", "--trajectories", "1"],
        "kdv-length-neg": ["kdv", "--length", "-5", "--train", "1"],
        "kdv-length-nan": ["kdv", "--length", "nan", "--train", "1"],
        "kdv-res-0": ["kdv", "--resolution", "0", "--train", "1"],
        "kdv-res-3": ["kdv", "--resolution", "3", "--train", "1", "--trajectories", "1"],
        "kdv-steps-1": ["kdv", "--steps", "1", "--train", "1", "--trajectories", "1"],
        "kdv-maxdt-tiny": ["kdv", "--max-dt", "1e-300", "--train", "1", "--trajectories", "1"],
        "kdv-defaults": ["kdv"],
        "darcy-inverse-samples-0": ["darcy-inverse", "--samples", "0"],
        "darcy-inverse-samples-1": ["darcy-inverse", "--samples", "1", "--resolution", "8"],
        "darcy-inverse-res-0": ["darcy-inverse", "--resolution", "0"],
        "darcy-inverse-res-2": ["darcy-inverse", "--resolution", "2", "--samples", "4"],
        "darcy-inverse-sigma-neg": ["darcy-inverse", "--extreme-sigma", "-1", "--samples", "4",
                                    "--resolution", "8"],
        "darcy-inverse-sigma-nan": ["darcy-inverse", "--extreme-sigma", "nan"],
        "darcy-inverse-samples-huge": ["darcy-inverse", "--samples", "1000000000000"],
        "subcommand-bogus": ["navier-stokes"],
    }
    for key, args in dg.items():
        exp = None if key in ("darcy-res-3", "darcy-tol-1", "burgers-res-3", "burgers-steps-1",
                              "darcy-inverse-samples-1", "kdv-defaults", "burgers-nu-0",
                              "darcy-tol-tiny", "darcy-threads-0") else "error"
        out = "o.h5" if args[0] in ("darcy", "burgers") else "o"
        add(f"datagen-{key}", "datagen", ["datagen"] + args + ["--out", out, "--quiet"],
            expect=exp, timeout=25)
    dg_out = {
        "darcy-out-missing-dir": (["darcy", "--out", "missing/o.h5"], {}),
        "darcy-out-dir": (["darcy", "--out", "d"], {"d": ("dir",)}),
        "darcy-out-empty": (["darcy", "--out", ""], {}),
        "darcy-out-missing": (["darcy"], {}),
        "darcy-out-under-file": (["darcy", "--out", "f/o.h5"], {"f": "x\n"}),
        "darcy-out-onto-dataset": (["darcy", "--out", "in.h5"], {"in.h5": ("fx", "darcy16.h5")}),
        "kdv-out-nonempty-dir": (["kdv", "--train", "1", "--trajectories", "1", "--out", "d"],
                                 {"d": ("fx", "kdv")}),
        "kdv-out-file": (["kdv", "--train", "1", "--trajectories", "1", "--out", "f"],
                         {"f": "x\n"}),
        "rd-out-missing-parent": (["reaction-diffusion", "--train", "1", "--trajectories", "1",
                                   "--resolution", "8", "--steps", "3", "--out", "a/b/c"], {}),
        "darcy-inverse-out-nonempty": (["darcy-inverse", "--samples", "4", "--resolution", "8",
                                        "--out", "d"], {"d": ("fx", "di")}),
    }
    for key, (args, files) in dg_out.items():
        extra = ["--samples", "2", "--resolution", "8"] if args[0] == "darcy" else []
        exp = None if key in ("darcy-out-onto-dataset", "rd-out-missing-parent") else "error"
        add(f"datagen-{key}", "datagen", ["datagen"] + args + extra + ["--quiet"], files=files,
            expect=exp, mutable={"in.h5"} if "onto-dataset" in key else (), timeout=25)

    # ---------------- inspect ------------------------------------------------------------
    ins = {
        "missing": ("nope.h5", {}),
        "text": ("t.h5", {"t.h5": "hello\n"}),
        "empty-file": ("e.h5", {"e.h5": ""}),
        "one-byte": ("o.h5", {"o.h5": b"\x89"}),
        "signature-only": ("s.h5", {"s.h5": b"\x89HDF\r\n\x1a\n"}),
        "garbage": ("g.h5", {"g.h5": garbage(8192, 81)}),
        "empty-dir": ("d", {"d": ("dir",)}),
        "dir-with-junk": ("d", {"d": ("dir",), "d/a.txt": "x\n", "d/train": ("dir",),
                                "d/train/x.h5": "not hdf5\n"}),
        "dir-splits-empty": ("d", {"d": ("dir",), "d/train": ("dir",), "d/test": ("dir",),
                                   "d/validation": ("dir",)}),
        "poisson-out": ("sol.h5", {"sol.h5": ("fx", "sol.h5")}),
        "poisson-out-3d": ("sol.h5", {"sol.h5": ("fx", "sol3d.h5")}),
        "poisson-out-matrix": ("sol.h5", {"sol.h5": ("fx", "solmat.h5")}),
        "darcy": ("darcy.h5", {"darcy.h5": ("fx", "darcy16.h5")}),
        "darcy-nan": ("darcy.h5", {"darcy.h5": ("fx", "darcy16_nan.h5")}),
        "burgers": ("b.h5", {"b.h5": ("fx", "burgers.h5")}),
        "mask": ("m.h5", {"m.h5": MASK}),
        "kdv-folder": ("kdv", {"kdv": ("fx", "kdv")}),
        "rd-folder": ("rd", {"rd": ("fx", "rd")}),
        "di-folder": ("di", {"di": ("fx", "di")}),
        "kdv-name-extra-tokens": ("1D_KdV_delta=2.5_train_100.h5",
                                  {"1D_KdV_delta=2.5_train_100.h5": ("fx", "kdv1.h5")}),
        "kdv-name-bad-number": ("1D_KdV_delta=abc.h5", {"1D_KdV_delta=abc.h5": ("fx", "kdv1.h5")}),
        "kdv-name-nan": ("1D_KdV_delta=nan.h5", {"1D_KdV_delta=nan.h5": ("fx", "kdv1.h5")}),
        "pdebench-burgers-name-darcy-content": (
            "1D_Burgers_Sols_Nu0.001.h5", {"1D_Burgers_Sols_Nu0.001.h5": ("fx", "darcy16.h5")}),
        "pdebench-darcy-name": ("2D_DarcyFlow_beta1.0_Train.hdf5",
                                {"2D_DarcyFlow_beta1.0_Train.hdf5": ("fx", "darcy16.h5")}),
        "rd-name-on-darcy": ("2D_diff-react_NA_NA.h5",
                             {"2D_diff-react_NA_NA.h5": ("fx", "darcy16.h5")}),
        "name-equals-only": ("=.h5", {"=.h5": ("fx", "darcy16.h5")}),
        "name-unicode": ("δ=1_ü.h5", {"δ=1_ü.h5": ("fx", "kdv1.h5")}),
        "name-newline": ("a\nb.h5", {"a\nb.h5": ("fx", "darcy16.h5")}),
        "truncated": ("tr.h5", {"tr.h5": ("fx", "darcy16_trunc.h5")}),
        "head-only": ("h.h5", {"h.h5": ("fx", "darcy16_head.h5")}),
        "zeros": ("z.h5", {"z.h5": ("fx", "darcy16_zero.h5")}),
        "bad-superblock": ("sb.h5", {"sb.h5": ("fx", "darcy16_sb.h5")}),
        "bitflips": ("bf.h5", {"bf.h5": ("fx", "darcy16_flip.h5")}),
        "symlink-loop": ("l.h5", {"l.h5": ("symlink", "l.h5")}),
        "dangling-symlink": ("l.h5", {"l.h5": ("symlink", "nowhere.h5")}),
        "checkpoint": ("c.safetensors", {"c.safetensors": ("fx", "pinn_run/checkpoint.safetensors")}),
        "run-dir": ("run", {"run": ("fx", "pinn_run")}),
        "dev-null": ("/dev/null", {}),
        "dev-zero": ("/dev/zero", {}),
        "empty-arg": ("", {}),
    }
    for key, (target, files) in ins.items():
        exp = "ok" if key in ("poisson-out", "poisson-out-3d", "poisson-out-matrix", "darcy",
                              "darcy-nan", "burgers", "mask", "kdv-folder", "rd-folder",
                              "di-folder", "kdv-name-extra-tokens", "kdv-name-bad-number",
                              "kdv-name-nan", "pdebench-burgers-name-darcy-content",
                              "pdebench-darcy-name", "rd-name-on-darcy", "name-equals-only",
                              "name-unicode", "name-newline") else None
        if key in ("missing", "text", "empty-file", "one-byte", "signature-only", "garbage",
                   "empty-dir", "head-only", "zeros", "symlink-loop", "dangling-symlink",
                   "dev-null", "empty-arg", "checkpoint"):
            exp = "error"
        add(f"inspect-{key}", "inspect", ["inspect", target], files=files, expect=exp,
            timeout=20)
    add("inspect-no-arg", "inspect", ["inspect"], expect="error")
    add("inspect-two-args", "inspect", ["inspect", "a.h5", "b.h5"],
        files={"a.h5": ("fx", "darcy16.h5"), "b.h5": ("fx", "darcy16.h5")}, expect="error")

    add("cli-no-subcommand", "cli", [], expect="error")
    add("cli-unknown-subcommand", "cli", ["solve"], expect="error")

    # ---------------- stdout classes: /dev/full and a closed pipe ------------------------
    ok_cmds = {
        "poisson": (["poisson", "--grid", "16x16", "--solver", "cg", "--quiet"], {}),
        "poisson-matrix": (["poisson", "--matrix", "A.mtx", "--quiet"], {"A.mtx": P16}),
        "sequence": (["sequence", "--instances", "5", "--tuner", "fixed", "--quiet"], {}),
        "wos": (["wos", "--domain", BOX, "--boundary", "x", "--grid", "4x4", "--walks", "4",
                 "--quiet"], {}),
        "wos-points-to-stdout": (["wos", "--domain", BOX, "--boundary", "x", "--points", "p.csv",
                                  "--walks", "4", "--quiet"], {"p.csv": "0.5,0.5\n"}),
        "train": (["train", pinn2d] + TINY_PINN + ["--out", "run"], {}),
        "eval": (["eval", "run", "--points", "p.csv", "--out", "o.csv"],
                 {"run": ("fx", "pinn_run"), "p.csv": "x,y\n0.5,0.5\n"}),
        "eval-op": (["eval", "run", "--input", "i.h5", "--out", "o.h5"],
                    {"run": ("fx", "op_run"), "i.h5": ("fx", "darcy16.h5")}),
        "datagen": (["datagen", "darcy", "--samples", "2", "--resolution", "8", "--out", "o.h5",
                     "--quiet"], {}),
        "inspect": (["inspect", "d.h5"], {"d.h5": ("fx", "darcy16.h5")}),
        "inspect-folder": (["inspect", "kdv"], {"kdv": ("fx", "kdv")}),
        "help": (["--help"], {}),
        "poisson-help": (["poisson", "--help"], {}),
        "version": (["--version"], {}),
    }
    for key, (args, files) in ok_cmds.items():
        silent = key.startswith(("train", "eval"))
        # Outputs are complete (written atomically) before the summary is printed; a full
        # stdout afterwards is an error but does not delete a finished data set.
        add(f"stdout-devfull-{key}", "stdout", args, files=files, stdout="devfull",
            stdout_silent=silent, partial_ok=(1,))
        add(f"stdout-closedpipe-{key}", "stdout", args, files=files, stdout="closedpipe",
            stdout_silent=silent)
    add("stdout-devfull-usage-error", "stdout", ["poisson", "--grid"], stdout="devfull",
        expect_rc=2, note="a usage error goes to stderr: exit 2 whatever stdout is")
    add("stdout-closedpipe-usage-error", "stdout", ["poisson", "--grid"], stdout="closedpipe",
        expect_rc=2)

    # ---------------- a full disk (RLIMIT_FSIZE, writes fail with EFBIG) -----------------
    H5 = r"H5[A-Z]_|HDF5-DIAG|#\d{3}:|major:|minor:"
    full = {
        "poisson-out": (["poisson", "--grid", "64x64", "--out", "o.h5", "--quiet"], {}, H5),
        "poisson-report": (["poisson", "--grid", "64x64", "--report", "r.json", "--quiet"], {},
                           None),
        "poisson-plot": (["poisson", "--grid", "64x64", "--plot", "u.png", "--quiet"], {}, None),
        "poisson-all-outputs": (["poisson", "--grid", "64x64", "--out", "o.h5", "--report",
                                 "r.json", "--plot", "u.png", "--history-plot", "h.png",
                                 "--quiet"], {}, H5),
        "wos-out": (["wos", "--domain", BOX, "--boundary", "x", "--grid", "40x40", "--walks",
                     "2", "--out", "o.csv", "--quiet"], {}, None),
        "wos-report-plot": (["wos", "--domain", BOX, "--boundary", "x", "--grid", "40x40",
                             "--walks", "2", "--report", "r.json", "--plot", "u.png",
                             "--quiet"], {}, None),
        "sequence-report": (["sequence", "--instances", "20", "--tuner", "fixed", "--report",
                             "r.json", "--plot", "p.png", "--quiet"], {}, None),
        "datagen-darcy": (["datagen", "darcy", "--samples", "20", "--resolution", "32", "--out",
                           "o.h5", "--quiet"], {}, H5),
        "datagen-kdv": (["datagen", "kdv", "--train", "1", "--validation", "1", "--test", "1",
                         "--ood", "1", "--extreme", "1", "--trajectories", "1", "--out", "o",
                         "--quiet"], {}, H5),
        "train-pinn": (["train", pinn2d] + TINY_PINN + ["--out", "run"], {}, None),
        "eval-pinn": (["eval", "run", "--points", "p.csv", "--out", "o.csv"],
                      {"run": ("fx", "pinn_run"),
                       "p.csv": "x,y\n" + "".join(f"0.{i % 9},0.5\n" for i in range(5000))},
                      None),
        "eval-op": (["eval", "run", "--input", "i.h5", "--out", "o.h5"],
                    {"run": ("fx", "op_run"), "i.h5": ("fx", "darcy16.h5")}, H5),
    }
    for key, (args, files, forbid) in full.items():
        add(f"diskfull-{key}", "diskfull", args, files=files, expect="error",
            fsize=256 if key.endswith("-report") else 2048,
            forbid="|".join(x for x in (forbid, r"\.tmp\b") if x),
            note="RLIMIT_FSIZE stands in for a full disk (EFBIG); the message should name "
                 "the user's output, not an internal temporary name or HDF5 internals")
    return cases


# --------------------------------------------------------------------------------------------
# Running one case
# --------------------------------------------------------------------------------------------

def materialize(case, cdir, fxdir):
    for rel, spec in sorted(case.files.items(), key=lambda kv: kv[0].count("/")):
        path = os.path.join(cdir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(spec, bytes):
            open(path, "wb").write(spec)
        elif isinstance(spec, str):
            open(path, "w", encoding="utf-8", newline="").write(spec)
        elif spec[0] == "dir":
            os.makedirs(path, exist_ok=True)
        elif spec[0] == "symlink":
            os.symlink(spec[1], path)
        elif spec[0] == "hardlink":
            os.link(os.path.join(cdir, spec[1]), path)
        elif spec[0] in ("fx", "copy"):
            src = os.path.join(fxdir, spec[1]) if spec[0] == "fx" else spec[1]
            if os.path.isdir(src):
                shutil.copytree(src, path)
            else:
                shutil.copy(src, path)
        else:
            raise ValueError(spec)


def snapshot(root):
    """relative path -> digest (files), 'dir', or 'link:target'; symlinks are not followed."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                snap[rel] = "link:" + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                snap[rel] = "dir"
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                snap[rel] = h.hexdigest()
            else:
                snap[rel] = "special"
    return snap


def external_inputs(case):
    """Files of the repository that the command reads: hashed before and after."""
    out = []
    for a in case.args:
        if a.startswith(REPO) and os.path.isfile(a):
            out.append(a)
    return out


def file_digest(p):
    try:
        return hashlib.sha256(open(p, "rb").read()).hexdigest()
    except OSError as e:
        return f"unreadable: {e}"


def run_case(case, binary, root, fxdir, default_timeout, keep_dir):
    cdir = tempfile.mkdtemp(prefix="case-", dir=root)
    logdir = tempfile.mkdtemp(prefix="log-", dir=root)
    res = {"name": case.name, "sub": case.sub, "args": case.args, "note": case.note,
           "files": sorted(case.files), "stdout_mode": case.stdout}
    try:
        materialize(case, cdir, fxdir)
        before = snapshot(cdir)
        ext_before = {p: file_digest(p) for p in external_inputs(case)}
        env = dict(os.environ)
        env.pop("NABLA_MAX_MEMORY", None)
        env.update(case.env)
        timeout = case.timeout or default_timeout
        err_path = os.path.join(logdir, "stderr")
        out_path = os.path.join(logdir, "stdout")
        errf = open(err_path, "wb")
        outf = None
        pipe_w = None
        if case.stdout == "devfull":
            outf = open("/dev/full", "wb")
        elif case.stdout == "closedpipe":
            r, pipe_w = os.pipe()
            os.close(r)  # no reader at all: the first write gets EPIPE (or SIGPIPE)
        else:
            outf = open(out_path, "wb")
        t0 = time.monotonic()
        proc = subprocess.Popen([binary] + case.args, cwd=cdir, env=env,
                                stdin=subprocess.DEVNULL,
                                stdout=pipe_w if pipe_w is not None else outf,
                                stderr=errf,
                                preexec_fn=(lambda: limits(case.fsize)) if case.fsize else limits,
                                # with a file-size limit keep SIGXFSZ ignored (Python ignores it)
                                # so that a write past the limit fails with EFBIG, as on a full
                                # disk, instead of killing the process
                                restore_signals=not case.fsize)
        if pipe_w is not None:
            os.close(pipe_w)
        errf.close()
        if outf is not None:
            outf.close()
        timed_out = False
        try:
            if case.sigint_after is not None:
                try:
                    proc.wait(timeout=case.sigint_after)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(proc.pid, signal.SIGINT)
                    except ProcessLookupError:
                        pass
                proc.wait(timeout=max(1.0, timeout - (time.monotonic() - t0)))
            else:
                proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        elapsed = time.monotonic() - t0
        rc = proc.returncode
        stderr = open(err_path, "rb").read().decode("utf-8", errors="replace")
        after = snapshot(cdir)
        ext_after = {p: file_digest(p) for p in ext_before}
        res.update(rc=rc, elapsed=elapsed, timed_out=timed_out, stderr=stderr)
        tags, details = classify(case, rc, timed_out, stderr, before, after, ext_before,
                                 ext_after)
        res["tags"] = tags
        res["details"] = details
    except Exception as e:  # a bug of the sweep itself, reported as such
        res.update(rc=None, elapsed=0.0, timed_out=False, stderr="",
                   tags=["SWEEP-ERROR"], details=[f"{type(e).__name__}: {e}"])
    finally:
        if keep_dir and res.get("tags") not in (None, ["OK"]):
            dest = os.path.join(keep_dir, re.sub(r"[^A-Za-z0-9._-]", "_", case.name))
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(cdir, dest, symlinks=True)
            try:
                shutil.copy(os.path.join(logdir, "stderr"), dest + ".stderr")
            except OSError:
                pass
        shutil.rmtree(cdir, ignore_errors=True)
        shutil.rmtree(logdir, ignore_errors=True)
    return res


def classify(case, rc, timed_out, stderr, before, after, ext_before, ext_after):
    tags = []
    details = []
    if rc == 101 or "panicked" in stderr:
        tags.append("PANIC")
    if timed_out:
        tags.append("HANG")
    elif rc is not None and rc < 0:
        tags.append("ABORT/SIGNAL")
        try:
            details.append(f"signal {signal.Signals(-rc).name}")
        except ValueError:
            details.append(f"signal {-rc}")
    changed = [p for p, d in before.items() if p not in case.mutable and after.get(p) != d]
    changed += [p for p, d in ext_before.items() if ext_after.get(p) != d]
    if changed:
        tags.append("INPUT-CHANGED")
        details.append("changed/removed: " + ", ".join(sorted(changed)[:8]))
    new = sorted(p for p in after if p not in before)
    if rc not in (0, None) and new and rc not in case.partial_ok and not timed_out:
        tags.append("PARTIAL")
        details.append("left behind: " + ", ".join(new[:8]) + (" ..." if len(new) > 8 else ""))
    lines = stderr.rstrip("\n").split("\n") if stderr else []
    if rc not in (0, 2, None) and not timed_out and rc > 0 and not case.multiline_ok:
        # Stage notes ("reading training windows ...") may precede the one error line.
        stages = all(line.endswith(" ...") for line in lines[:-1])
        if not (lines and lines[-1].startswith("error: ") and stages):
            tags.append("MULTILINE")
            details.append(f"stderr has {len(lines)} line(s)")
    if case.expect_rc is not None:
        if rc != case.expect_rc and not timed_out:
            tags.append("EXPECTATION")
            details.append(f"expected exit {case.expect_rc}")
    elif case.stdout in ("devfull", "closedpipe") and case.stdout_silent and not timed_out:
        if rc != 0 or re.search(r"(?m)^error|panicked|[Bb]roken pipe", stderr):
            tags.append("EXPECTATION")
            details.append(f"stdout={case.stdout} for a command that prints nothing on stdout: "
                           "expected exit 0 and its usual stderr")
    elif case.stdout == "devfull" and not timed_out:
        if rc != 1 or not (len(lines) == 1 and lines[0].startswith("error: ")):
            tags.append("EXPECTATION")
            details.append("stdout on /dev/full: expected exit 1 and one 'error: ' line")
    elif case.stdout == "closedpipe" and not timed_out:
        if rc != 0 or stderr.strip():
            tags.append("EXPECTATION")
            details.append("stdout a closed pipe: expected exit 0 and empty stderr")
    elif case.sigint_after is not None:
        if rc == 0:
            tags.append("EXPECTATION")
            details.append("Ctrl-C (SIGINT) ended with exit 0; expected non-zero (130)")
        if "run/checkpoint.safetensors" not in after:
            tags.append("EXPECTATION")
            details.append("no checkpoint kept after Ctrl-C")
    elif case.expect == "error" and rc == 0:
        tags.append("EXPECTATION")
        details.append("expected an error, got exit 0 (invalid input accepted)")
    elif case.expect == "ok" and rc not in (0, None) and not timed_out:
        tags.append("EXPECTATION")
        details.append(f"expected success, got exit {rc} (valid input refused)")
    if rc not in (0, None) and re.search(r"\d{60,}", stderr):
        tags.append("MESSAGE")
        details.append("a number is printed as a run of 60+ digits (use {:e} for f64)")
    if case.forbid and re.search(case.forbid, stderr):
        tags.append("MESSAGE")
        details.append(f"stderr matches forbidden /{case.forbid}/")
    if case.require and rc not in (0, None) and not re.search(case.require, stderr):
        tags.append("MESSAGE")
        details.append(f"stderr lacks /{case.require}/")
    if not tags:
        tags.append("OK")
    order = {c: i for i, c in enumerate(CLASS_ORDER + ["SWEEP-ERROR"])}
    tags = sorted(set(tags), key=lambda t: order.get(t, 99))
    return tags, details


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def shown_command(res):
    return "nabla " + " ".join(shlex.quote(a if len(a) <= 120 else a[:100] + f"...<{len(a)} chars>")
                               for a in res["args"])


def report(results, total_time, out=sys.stdout):
    classes = CLASS_ORDER + ["SWEEP-ERROR"]
    subs = sorted({r["sub"] for r in results})
    table = collections.defaultdict(collections.Counter)
    for r in results:
        table[r["tags"][0]][r["sub"]] += 1
    w = max(13, max(len(s) for s in subs) + 1)
    print("\n== summary (primary class per case) ==", file=out)
    print(f"{'class':<15}" + "".join(f"{s:>{w}}" for s in subs) + f"{'total':>8}", file=out)
    for c in classes:
        if c not in table and c not in CLASS_ORDER:
            continue
        row = table.get(c, {})
        print(f"{c:<15}" + "".join(f"{row.get(s, 0):>{w}}" for s in subs) +
              f"{sum(row.values()):>8}", file=out)
    per_sub = collections.Counter(r["sub"] for r in results)
    print(f"{'cases':<15}" + "".join(f"{per_sub[s]:>{w}}" for s in subs) +
          f"{len(results):>8}", file=out)
    alltags = collections.Counter(t for r in results for t in r["tags"])
    print("\nall tags (a case may carry several): " +
          ", ".join(f"{t} {alltags[t]}" for t in classes if alltags[t]), file=out)
    print(f"total wall time {total_time:.1f} s", file=out)
    bad = [r for r in results if r["tags"] != ["OK"]]
    if bad:
        print(f"\n== {len(bad)} non-OK cases ==", file=out)
    order = {c: i for i, c in enumerate(classes)}
    for r in sorted(bad, key=lambda r: (order.get(r["tags"][0], 99), r["sub"], r["name"])):
        err = r["stderr"].replace("\n", "\\n")
        print(f"\n[{'/'.join(r['tags'])}] {r['name']}", file=out)
        print(f"  command : {shown_command(r)}", file=out)
        if r["files"]:
            print(f"  inputs  : {', '.join(r['files'])}" + ("" if r["stdout_mode"] == "capture"
                                                             else f"; stdout={r['stdout_mode']}"),
                  file=out)
        elif r["stdout_mode"] != "capture":
            print(f"  stdout  : {r['stdout_mode']}", file=out)
        rc = r["rc"]
        print(f"  exit    : {rc}{' (timed out)' if r['timed_out'] else ''}  "
              f"elapsed {r['elapsed']:.2f} s", file=out)
        for d in r["details"]:
            print(f"  detail  : {d}", file=out)
        if r["note"]:
            print(f"  note    : {r['note']}", file=out)
        print(f"  stderr  : {err[:200]}", file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "nabla"),
                    help="the nabla binary to test (default: target/release/nabla)")
    ap.add_argument("--filter", default=None, help="run only cases whose name contains this")
    ap.add_argument("--jobs", type=int, default=2, help="cases run in parallel (default 2)")
    ap.add_argument("--timeout", type=float, default=20.0, help="default per-case timeout (s)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--json", default=None, help="also write every result as JSON here")
    ap.add_argument("--keep", default=None,
                    help="copy the directory (and stderr) of every non-OK case into this folder")
    ap.add_argument("--no-copy", action="store_true",
                    help="run the binary in place (default: a private copy, so a concurrent "
                         "rebuild cannot change it mid-sweep)")
    args = ap.parse_args()

    cases = build_cases()
    if args.filter:
        cases = [c for c in cases if args.filter in c.name]
    if args.list:
        for c in cases:
            print(f"{c.name:<60} nabla {' '.join(shlex.quote(a[:80]) for a in c.args)}")
        print(f"{len(cases)} cases")
        return 0
    if not os.path.isfile(args.binary):
        print(f"error: no binary at {args.binary} (cargo build --release -p nabla-cli)",
              file=sys.stderr)
        return 2

    root = tempfile.mkdtemp(prefix="nabla-hostile-")
    try:
        binary = os.path.abspath(args.binary)
        if not args.no_copy:
            shutil.copy2(binary, os.path.join(root, "nabla"))
            binary = os.path.join(root, "nabla")
        st = os.stat(args.binary)
        print(f"binary   {args.binary} ({time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(st.st_mtime))}, "
              f"sha256 {file_digest(binary)[:16]})")
        print(f"cases    {len(cases)}, jobs {args.jobs}, timeout {args.timeout:g} s, "
              f"RLIMIT_AS {AS_LIMIT // GIB} GiB")
        fxdir = os.path.join(root, "fixtures")
        os.makedirs(fxdir)
        repo_before = {p: file_digest(p) for d in (CONFIGS, DATASETS)
                       for p in (os.path.join(d, f) for f in os.listdir(d)) if os.path.isfile(p)}
        t0 = time.monotonic()
        try:
            build_fixtures(binary, fxdir)
        except Exception as e:
            print(f"error: building fixtures: {e}", file=sys.stderr)
            return 2
        print(f"fixtures {time.monotonic() - t0:.1f} s")
        results = []
        lock = threading.Lock()
        done = [0]

        def one(c):
            r = run_case(c, binary, root, fxdir, args.timeout, args.keep)
            with lock:
                done[0] += 1
                if r["tags"] != ["OK"] or done[0] % 50 == 0:
                    print(f"  [{done[0]:>4}/{len(cases)}] {'/'.join(r['tags']):<28} {c.name} "
                          f"({r['elapsed']:.1f} s)", flush=True)
            return r

        # long cases first so that they overlap with the many quick ones
        order = sorted(cases, key=lambda c: -(c.timeout or 0))
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            results = list(ex.map(one, order))
        total = time.monotonic() - t0
        repo_after = {p: file_digest(p) for p in repo_before}
        moved = [p for p in repo_before if repo_after[p] != repo_before[p]]
        if moved:
            print(f"WARNING: repository inputs changed during the sweep: {moved}")
        by_name = {c.name: i for i, c in enumerate(cases)}
        results.sort(key=lambda r: by_name[r["name"]])
        report(results, total)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
        return 0 if all(r["tags"] == ["OK"] for r in results) and not moved else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
