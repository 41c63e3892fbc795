#!/usr/bin/env python3
"""The DeepXDE side of benches/pinn_bench.py: one training run of the 2-D Poisson PINN.

    -Δu = 2π² sin(πx) sin(πy) on [0,1]²,  u = 0 on ∂Ω,  exact u = sin(πx) sin(πy)

MLP 2-64-64-64-1, tanh, Glorot uniform; 2000 interior + 400 boundary collocation points drawn at
random once (train_distribution="pseudo"); DeepXDE's own loss (mean squared PDE residual + mean
squared boundary value), float32 (DeepXDE's default), PyTorch backend on the CPU.

Recipes:
  adam        Adam, lr 1e-3, for --adam-steps steps;
  adam-lbfgs  DeepXDE's usual recipe: --adam-steps Adam steps (lr 1e-3), then
              model.compile("L-BFGS") for up to --lbfgs-iters iterations.

Every --log-every steps (iterations, for L-BFGS) a callback evaluates the network on the 101×101
uniform grid of [0,1]² (boundary included) and records (step, wall seconds since training start,
relative L2 error). The clock starts just before the first model.train() and includes everything
after it, as nabla's `seconds` column does: DeepXDE's own periodic loss evaluation, the switch to
L-BFGS, and these measurements (their total is reported as eval_seconds; it is small).

How L-BFGS is measured. DeepXDE's PyTorch L-BFGS calls torch.optim.LBFGS.step() in chunks of
LBFGS_options["iter_per_step"] iterations and runs the callbacks (and its own loss evaluation)
only between chunks. That chunk size is computed once, when deepxde.optimizers.config is
imported, as min(1000, default maxiter) = 1000; set_LBFGS_options() does not recompute it. So
callbacks would come every 1000 iterations. This script sets iter_per_step = --log-every (and
fun_per_step in the same 1.25 ratio DeepXDE uses) after set_LBFGS_options(); --lbfgs-chunk sets
another size. The optimizer keeps its state (history, n_iter) across step() calls, so the run is
the same as with DeepXDE's 1000-iteration chunks; each chunk only starts with one extra closure
evaluation at the current point. (Checked: with seed 0, chunks of 100 and of 1000 give the same
iteration count and the same final rel L2 to all digits.) DeepXDE stops when a chunk makes
exactly one iteration (its "converged" test; in float32 torch's L-BFGS often stalls this way
long before maxiter), so the last recorded iteration count need not be a multiple of
--log-every.

Writes a JSON file (--out) with the records, the settings and DeepXDE's loss history.
"""

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("DDE_BACKEND", "pytorch")
if os.environ["DDE_BACKEND"] != "pytorch":
    sys.exit(f"pinn_deepxde.py needs DDE_BACKEND=pytorch, got {os.environ['DDE_BACKEND']!r}")

import numpy as np
import torch

import deepxde as dde

GRID_N = 101


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=["adam", "adam-lbfgs"], required=True)
    p.add_argument("--adam-steps", type=int, default=None,
                   help="Adam steps (default: 20000 for adam, 2000 for adam-lbfgs)")
    p.add_argument("--lbfgs-iters", type=int, default=15000, help="L-BFGS maxiter (default 15000)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--lbfgs-chunk", type=int, default=None,
                   help="L-BFGS iterations per DeepXDE chunk (default: --log-every; DeepXDE's "
                        "own is 1000), for checking that the chunking does not change the run")
    p.add_argument("--num-domain", type=int, default=2000)
    p.add_argument("--num-boundary", type=int, default=400)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--depth", type=int, default=3, help="hidden layers")
    p.add_argument("--init", default="Glorot uniform", help="DeepXDE initializer name")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--verbose", action="store_true", help="let DeepXDE print its loss table")
    a = p.parse_args(argv)
    if a.adam_steps is None:
        a.adam_steps = 20000 if a.recipe == "adam" else 2000
    if a.lbfgs_chunk is None:
        a.lbfgs_chunk = a.log_every
    if a.log_every < 1 or a.lbfgs_chunk < 1 or a.adam_steps < 0 or a.lbfgs_iters < 0:
        p.error("--log-every and --lbfgs-chunk must be ≥ 1 and step counts ≥ 0")
    return a


def eval_grid():
    """The 101×101 uniform grid of [0,1]² (boundary included) and the exact solution on it."""
    s = np.linspace(0.0, 1.0, GRID_N)
    x, y = np.meshgrid(s, s, indexing="ij")
    pts = np.stack([x.ravel(), y.ravel()], axis=1)
    exact = np.sin(np.pi * pts[:, 0]) * np.sin(np.pi * pts[:, 1])
    return pts, exact


class GridRecorder(dde.callbacks.Callback):
    """Records (step, optimizer, seconds, rel_l2) every `every` steps and at the end of a run."""

    def __init__(self, every, pts, exact):
        super().__init__()
        self.every = every
        self.x = torch.as_tensor(pts, dtype=torch.get_default_dtype())
        self.exact = exact
        self.exact_norm = float(np.linalg.norm(exact))
        self.t0 = None
        self.optimizer = None
        self.records = []
        self.eval_seconds = 0.0

    def rel_l2(self):
        net = self.model.net
        with torch.no_grad():
            u = net(self.x).detach().cpu().numpy().astype(np.float64).ravel()
        return float(np.linalg.norm(u - self.exact) / self.exact_norm)

    def record(self, force=False):
        step = int(self.model.train_state.step)
        if self.records and self.records[-1]["step"] == step:
            return
        if not force and step % self.every != 0 and self.optimizer == "adam":
            return
        seconds = time.perf_counter() - self.t0 if self.t0 is not None else 0.0
        t = time.perf_counter()
        err = self.rel_l2()
        self.eval_seconds += time.perf_counter() - t
        self.records.append(
            {"step": step, "optimizer": self.optimizer, "seconds": seconds, "rel_l2": err}
        )

    # Adam: called after every step; L-BFGS: after every chunk of iter_per_step iterations.
    def on_epoch_end(self):
        self.record()

    # L-BFGS leaves its loop before on_epoch_end when it stops; Adam's last step may not be a
    # multiple of `every`.
    def on_train_end(self):
        self.record(force=True)


def build_model(a):
    geom = dde.geometry.Rectangle([0.0, 0.0], [1.0, 1.0])

    def pde(x, u):
        u_xx = dde.grad.hessian(u, x, i=0, j=0)
        u_yy = dde.grad.hessian(u, x, i=1, j=1)
        f = 2 * np.pi**2 * torch.sin(np.pi * x[:, 0:1]) * torch.sin(np.pi * x[:, 1:2])
        return -u_xx - u_yy - f

    def boundary(_, on_boundary):
        return on_boundary

    bc = dde.icbc.DirichletBC(geom, lambda x: np.zeros((len(x), 1)), boundary)
    data = dde.data.PDE(
        geom,
        pde,
        bc,
        num_domain=a.num_domain,
        num_boundary=a.num_boundary,
        train_distribution="pseudo",
    )
    net = dde.nn.FNN([2] + [a.width] * a.depth + [1], "tanh", a.init)
    return dde.Model(data, net), data


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    dde.config.set_random_seed(a.seed)
    verbose = 1 if a.verbose else 0
    # DeepXDE evaluates (and with verbose prints) its training loss every display_every steps;
    # 1000 is its default.
    display_every = 1000

    model, data = build_model(a)
    pts, exact = eval_grid()
    rec = GridRecorder(a.log_every, pts, exact)

    model.compile("adam", lr=a.lr)
    rec.model = model
    rec.optimizer = "adam"
    rec.record(force=True)  # step 0, before the clock starts
    lbfgs_info = None

    cpu0 = time.process_time()
    rec.t0 = time.perf_counter()
    if a.adam_steps > 0:
        model.train(iterations=a.adam_steps, display_every=display_every, callbacks=[rec],
                    verbose=verbose)
    if a.recipe == "adam-lbfgs" and a.lbfgs_iters > 0:
        from deepxde.optimizers import config as opt_config

        dde.optimizers.config.set_LBFGS_options(maxiter=a.lbfgs_iters)
        opts = opt_config.LBFGS_options
        # See the module docstring: make DeepXDE hand control back every log_every iterations.
        opts["iter_per_step"] = min(a.lbfgs_chunk, opts["maxiter"])
        opts["fun_per_step"] = opts["maxfun"] * opts["iter_per_step"] // opts["maxiter"]
        lbfgs_info = {k: opts[k] for k in sorted(opts)}
        model.compile("L-BFGS")
        rec.optimizer = "lbfgs"
        model.train(callbacks=[rec], verbose=verbose)
        lbfgs_info["n_iter"] = int(model.opt.state_dict()["state"][0]["n_iter"])
    total = time.perf_counter() - rec.t0
    cpu = time.process_time() - cpu0

    lh = model.losshistory
    result = {
        "tool": "deepxde",
        "recipe": a.recipe,
        "deepxde_version": dde.__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.platform(),
        "threads": torch.get_num_threads(),
        "dtype": str(torch.get_default_dtype()),
        "seed": a.seed,
        "settings": {
            "adam_steps": a.adam_steps,
            "lr": a.lr,
            "lbfgs_iters": a.lbfgs_iters if a.recipe == "adam-lbfgs" else 0,
            "lbfgs_options": lbfgs_info,
            "log_every": a.log_every,
            "display_every": display_every,
            "num_domain": a.num_domain,
            "num_boundary": a.num_boundary,
            "train_points": int(len(data.train_x)),
            "layers": [2] + [a.width] * a.depth + [1],
            "activation": "tanh",
            "init": a.init,
            "eval_grid": f"{GRID_N}x{GRID_N}",
        },
        "steps": int(model.train_state.step),
        "total_seconds": total,
        # CPU seconds of this process over the same span: about threads × total_seconds on an
        # idle machine, well below that when other work competes for the cores.
        "cpu_seconds": cpu,
        "eval_seconds": rec.eval_seconds,
        "final_rel_l2": rec.records[-1]["rel_l2"],
        "records": rec.records,
        "loss_history": {
            "steps": [int(s) for s in lh.steps],
            "loss_train": [float(np.sum(l)) for l in lh.loss_train],
        },
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, a.out)
    print(
        f"deepxde {a.recipe}: {result['steps']} steps in {total:.1f} s, "
        f"final rel L2 {result['final_rel_l2']:.3e} -> {a.out}"
    )


if __name__ == "__main__":
    main()
