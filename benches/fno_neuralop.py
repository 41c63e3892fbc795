#!/usr/bin/env python3
"""Train neuraloperator's FNO on nabla's Darcy file with nabla's recipe (configs/fno_darcy.toml).

Run through benches/fno_bench.sh, which prepares benches/.venv (torch CPU, neuraloperator, h5py)
and runs nabla beside it. Standalone:

    benches/.venv/bin/python benches/fno_neuralop.py --epochs 1 --out benches/out/x.json

Data (PDEBench Darcy layout, written by `nabla datagen darcy`): `nu` [N,S,S] is the coefficient
a (input), `tensor` [N,1,S,S] the solution u (target). Samples 0..1000 train, 1000..1200 test.

The model is `neuralop.models.FNO`, set up to be the network nabla trains
(crates/nabla-nn/src/fno.rs):

  * modes: nabla keeps kx ∈ −12..11 on the first axis (full DFT) and ky ∈ 0..11 on the last
    (real DFT). neuralop's SpectralConv keeps `n_modes[i]` modes centred on 0 on every axis but
    the last (after fftshift: −n//2 .. n//2 − 1 for even n), and `n_modes[-1] // 2 + 1` modes
    0.. on the last (rfft) axis. So n_modes=(24, 22) keeps kx ∈ −12..11 and ky ∈ 0..11
    (22 // 2 + 1 = 12): exactly nabla's 24×12 mode set. n_modes=(12, 12) would keep only
    kx ∈ −6..5, ky ∈ 0..6.
  * width 32, 4 Fourier layers, each `σ(K v + W v)` with a linear (1×1) skip `W` and no
    channel MLP (use_channel_mlp=False), no GELU after the last layer;
  * lifting: one pointwise Linear(3 → 32) from (a, x, y) (lifting_channel_ratio=0);
  * projection 32 → 128 → 1 with GELU (projection_channel_ratio=4);
  * grid channels in [0, 1] with both endpoints (nabla's grid), via GridEmbeddingND with
    boundaries [0, S/(S−1)] (neuralop's default grid [0, 1) leaves out the end point);
  * zero padding of round(0.125·S) cells on the high end of each axis only.

Two places where neuralop 2.0 cannot be configured to match and this script swaps in a small
replacement (--library-as-is keeps the library's behaviour instead):

  * DomainPadding always pads both sides (0.125 → 8 + 8 cells, an 80² grid); nabla pads the
    high end only (a 72² grid). `OneSidedPadding` below pads the high end.
  * FNOBlocks.forward_with_postactivation with use_channel_mlp=False applies the nonlinearity
    twice between layers (gelu(gelu(·))). `_single_gelu_block` applies it once.

Training: global mean/std normalisation of input and output over the training set; loss = mean
over the batch of ‖decode(model(a)) − u‖₂ / ‖u‖₂; AdamW(lr 1e-3, weight decay 1e-4);
CosineAnnealingLR to 0 over the run, stepped once per optimiser step; batch 20, shuffled
every epoch. Only the training loop is timed (data loading, normalisation, model set-up and
evaluation are not); samples/s = epochs · 1000 / seconds. The test error is the mean over the
test samples of the per-sample relative L2 error of the decoded prediction, as nabla reports
`test_rel_l2`.
"""

import argparse
import json
import math
import os
import platform
import sys
import time
import types

os.environ.setdefault("WANDB_MODE", "disabled")  # neuralop imports wandb; keep it quiet/offline

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import neuralop
from neuralop.layers.embeddings import GridEmbeddingND
from neuralop.models import FNO

N_TRAIN, N_TEST = 1000, 200


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/darcy64.h5")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--library-as-is", action="store_true",
                   help="keep neuralop's symmetric padding and double GELU (see the docstring)")
    p.add_argument("--out", help="write the result as JSON here")
    a = p.parse_args(argv)
    if a.epochs < 1 or a.threads < 1 or a.batch < 1:
        p.error("--epochs, --threads and --batch must be ≥ 1")
    return a


class OneSidedPadding(nn.Module):
    """Zero padding of round(fraction·n) cells at the high end of each spatial axis (nabla's)."""

    def __init__(self, fraction):
        super().__init__()
        self.fraction = fraction
        self._crop = None

    def pad(self, x):
        dims = x.shape[2:]
        pads = [round(self.fraction * n) for n in dims]
        self._crop = (Ellipsis, *(slice(0, n) for n in dims))
        spec = []
        for p in reversed(pads):  # F.pad lists the last axis first: (low, high) per axis
            spec += [0, p]
        return F.pad(x, spec, mode="constant")

    def unpad(self, x):
        return x[self._crop]


def _single_gelu_block(self, x, index=0, output_shape=None):
    """FNOBlocks forward for use_channel_mlp=False: x ← σ(K x + W x), σ once, none after the last."""
    skip = self.fno_skips[index](x)
    skip = self.convs[index].transform(skip, output_shape=output_shape)
    x = self.convs[index](x, output_shape=output_shape) + skip
    if index < self.n_layers - 1:
        x = self.non_linearity(x)
    return x


def build_model(s, library_as_is):
    # n_modes=(24, 22): kx ∈ −12..11 (24 centred modes), ky ∈ 0..11 (22 // 2 + 1 = 12 rfft
    # modes) — nabla's modes = 12 per axis. See the module docstring.
    model = FNO(
        n_modes=(24, 22),
        in_channels=1,
        out_channels=1,
        hidden_channels=32,
        n_layers=4,
        lifting_channel_ratio=0,  # lifting = one Linear(1 + 2 grid channels → 32)
        projection_channel_ratio=4,  # projection 32 → 128 → 1
        positional_embedding=GridEmbeddingND(
            in_channels=1, dim=2, grid_boundaries=[[0.0, s / (s - 1)]] * 2
        ),  # x_i = i / (S − 1): [0, 1] with both end points
        non_linearity=F.gelu,
        use_channel_mlp=False,
        fno_skip="linear",
        domain_padding=0.125,
    )
    if not library_as_is:
        model.domain_padding = OneSidedPadding(0.125)
        model.fno_blocks.forward = types.MethodType(_single_gelu_block, model.fno_blocks)
    return model


def load(path):
    with h5py.File(path, "r") as f:
        a = np.asarray(f["nu"][: N_TRAIN + N_TEST], dtype=np.float32)
        u = np.asarray(f["tensor"][: N_TRAIN + N_TEST], dtype=np.float32)
    if a.shape[0] < N_TRAIN + N_TEST:
        raise SystemExit(f"{path}: {a.shape[0]} samples, need {N_TRAIN + N_TEST}")
    a = torch.from_numpy(a).unsqueeze(1)  # [N, 1, S, S]
    u = torch.from_numpy(u).reshape(a.shape)  # [N, 1, S, S]
    return a, u


def rel_l2(pred, u):
    """Per-sample ‖pred − u‖₂ / ‖u‖₂, shape [B]."""
    d = (pred - u).flatten(1).norm(dim=1)
    return d / u.flatten(1).norm(dim=1)


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    x_all, y_all = load(a.data)
    s = x_all.shape[-1]
    x_tr, y_tr = x_all[:N_TRAIN], y_all[:N_TRAIN]
    x_te, y_te = x_all[N_TRAIN:], y_all[N_TRAIN:]
    # Global (scalar) normalisers from the training set, as nabla's.
    im, istd = x_tr.mean(), x_tr.std()
    tm, tstd = y_tr.mean(), y_tr.std()
    x_tr_n = (x_tr - im) / istd
    x_te_n = (x_te - im) / istd

    model = build_model(s, a.library_as_is)
    n_params = sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    steps_per_epoch = math.ceil(N_TRAIN / a.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs * steps_per_epoch,
                                                       eta_min=0.0)

    gen = torch.Generator().manual_seed(a.seed)
    epoch_losses = []
    model.train()
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        perm = torch.randperm(N_TRAIN, generator=gen)
        total = 0.0
        for i in range(0, N_TRAIN, a.batch):
            idx = perm[i:i + a.batch]
            pred = model(x_tr_n[idx]) * tstd + tm
            loss = rel_l2(pred, y_tr[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        epoch_losses.append(total / N_TRAIN)
    seconds = time.perf_counter() - t0

    model.eval()
    with torch.no_grad():
        errs = torch.cat([
            rel_l2(model(x_te_n[i:i + 50]) * tstd + tm, y_te[i:i + 50])
            for i in range(0, N_TEST, 50)
        ])
    res = {
        "tool": "neuraloperator",
        "neuraloperator_version": neuralop.__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "threads": a.threads,
        "epochs": a.epochs,
        "batch": a.batch,
        "n_modes": [24, 22],
        "library_as_is": a.library_as_is,
        "parameters": n_params,
        "seconds": seconds,
        "samples_per_second": a.epochs * N_TRAIN / seconds,
        "train_loss_per_epoch": epoch_losses,
        "test_rel_l2": float(errs.mean()),
        "load_avg": list(os.getloadavg()),
    }
    print(json.dumps(res, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
