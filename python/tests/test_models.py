"""Trained models through nabla.load against the CLI's `nabla eval`, and nabla.train."""

import csv
import shutil

import h5py
import numpy as np
import pytest

import nabla
from conftest import REPO, RUNS


def test_pinn_matches_nabla_eval(tmp_path, cli):
    rng = np.random.default_rng(0)
    pts = rng.random((257, 2))
    # Columns in another order than the model's: the CLI reads them by name.
    np.savetxt(tmp_path / "pts.csv", pts[:, ::-1], delimiter=",", header="y,x", comments="", fmt="%.17g")
    cli("eval", RUNS / "pinn_v0.1", "--points", tmp_path / "pts.csv", "--out", tmp_path / "pred.csv")
    with open(tmp_path / "pred.csv") as f:
        want = np.array([float(r["u"]) for r in csv.DictReader(f)])
    pinn = nabla.load(RUNS / "pinn_v0.1")
    assert isinstance(pinn, nabla.Pinn)
    assert pinn.coordinate_names == ["x", "y"] and pinn.input_dim == 2
    u = pinn.u(pts)
    assert u.shape == (257,)
    np.testing.assert_allclose(u, want, rtol=1e-12, atol=0)
    # The PDE: −Δu = 2π² sin(πx) sin(πy) (a trained network: a few per cent).
    v = pinn.evaluate(pts)
    # u from the jet pass (f32 network) equals the plain forward pass up to f32 rounding.
    np.testing.assert_allclose(v["u"], u, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(v["grad"], pinn.grad(pts))
    np.testing.assert_array_equal(v["laplacian"], pinn.laplacian(pts))
    assert v["grad"].shape == (257, 2)
    f = 2 * np.pi**2 * np.sin(np.pi * pts[:, 0]) * np.sin(np.pi * pts[:, 1])
    assert np.linalg.norm(-v["laplacian"] - f) / np.linalg.norm(f) < 0.1
    # Lists, float32 and non-contiguous views are accepted (the f32 network's rounding
    # depends on the batch size, so only equal batches give equal bits).
    np.testing.assert_allclose(pinn.u(pts[:3].tolist()), u[:3], rtol=1e-5, atol=1e-6)
    wide = np.asfortranarray(np.hstack([pts, pts]))[:, :2]
    np.testing.assert_array_equal(pinn.u(wide), u)


def test_fno_matches_nabla_eval(tmp_path, cli):
    data = REPO / "datasets" / "darcy32_eval.h5"
    cli("eval", RUNS / "fno_v0.1", "--input", data, "--out", tmp_path / "pred.h5")
    with h5py.File(data) as f:
        nu = f["nu"][:]
    with h5py.File(tmp_path / "pred.h5") as f:
        want = f["tensor"][:]  # [N, 1, S, S], float32
    fno = nabla.load(RUNS / "fno_v0.1")
    assert isinstance(fno, nabla.Operator) and fno.kind == "fno"
    assert fno.train_grid == [32, 32]
    pred = fno.predict(nu)
    assert pred.shape == nu.shape and pred.dtype == np.float64
    np.testing.assert_array_equal(pred.astype(np.float32), want[:, 0])
    # Another resolution (zero-shot), down to the model's minimum.
    assert fno.predict(nu[:2, ::2, ::2]).shape == (2, 16, 16)


def test_deeponet_loads():
    op = nabla.load(RUNS / "deeponet_v0.1")
    assert isinstance(op, nabla.Operator) and op.kind == "deeponet"
    grid = op.train_grid
    out = op.predict(np.ones([2, *grid]))
    assert out.shape == (2, *grid) and np.all(np.isfinite(out))


def test_load_errors():
    with pytest.raises(nabla.NablaError) as e:
        nabla.load(REPO / "no" / "such" / "run")
    assert "\n" not in str(e.value) and "no/such/run" in str(e.value)
    pinn = nabla.load(RUNS / "pinn_v0.1")
    with pytest.raises(nabla.NablaError, match=r"^points have 3 columns; the model takes 2 \(x, y\)$"):
        pinn.u(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"points must be a 2-D array \[n, 2\] \(x, y\)"):
        pinn.u(np.zeros(2))
    with pytest.raises(nabla.NablaError, match="non-finite"):
        pinn.laplacian(np.array([[0.5, np.nan]]))
    fno = nabla.load(RUNS / "fno_v0.1")
    with pytest.raises(nabla.NablaError, match="the model takes"):
        fno.predict(np.zeros((2, 32)))


TINY = {
    "train.optimizer": [{"kind": "adam", "steps": 6, "lr": 1e-3}],
    "train.seed": 3,
    "train.log_every": 2,
    "train.checkpoint_every": 3,
    "train.progress": False,
    "model.hidden": [8, 8],
    "sampling.interior": 64,
    "sampling.boundary": 16,
    "eval.grid": 11,
}


def test_train_tiny_pinn(tmp_path):
    config = tmp_path / "pinn.toml"
    shutil.copy(REPO / "configs" / "pinn_poisson2d.toml", config)
    run = nabla.train(config, overrides=TINY, out=tmp_path / "run")
    assert run == tmp_path / "run"
    assert (run / "checkpoint.safetensors").is_file()
    assert (run / "config.toml").is_file() and (run / "summary.json").is_file()
    assert "hidden = [8, 8]" in (run / "config.toml").read_text()
    pinn = nabla.load(run)
    assert pinn.u(np.array([[0.5, 0.5]])).shape == (1,)
    # Same config and seed, same numbers.
    again = nabla.train(config, overrides=TINY, out=tmp_path / "again")
    np.testing.assert_array_equal(nabla.load(again).u([[0.3, 0.6]]), pinn.u([[0.3, 0.6]]))


def test_train_errors(tmp_path):
    config = tmp_path / "pinn.toml"
    shutil.copy(REPO / "configs" / "pinn_poisson2d.toml", config)
    with pytest.raises(nabla.NablaError, match="hiden") as e:
        nabla.train(config, overrides={"model.hiden": [8]}, out=tmp_path / "bad")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(nabla.NablaError):
        nabla.train(tmp_path / "missing.toml", out=tmp_path / "x")
