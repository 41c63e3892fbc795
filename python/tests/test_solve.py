"""nabla.solve on finite-element matrices assembled here, residuals recomputed with scipy; and
nabla.poisson_grid against a scipy-built 5-point matrix."""

import json

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import nabla
from conftest import RUNS
from fem import relative_residual, system

TOL = 1e-8
FORMATS = {
    "csr": lambda A: A.tocsr(),
    "csc": lambda A: A.tocsc(),
    "coo": lambda A: A.tocoo(),
}


@pytest.fixture(scope="module")
def square():
    return system(24)


@pytest.fixture(scope="module")
def lshape():
    return system(32, lshape=True, checker=True)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("solver", ["cg", "jacobi-pcg", "ic0-pcg", "ssor-pcg", "amg-pcg", "amg"])
def test_residual_square(square, fmt, solver):
    A, b = square
    x, report = nabla.solve(FORMATS[fmt](A), b, solver=solver, tol=TOL)
    assert x.shape == b.shape and x.dtype == np.float64
    assert report["converged"] is True
    assert report["solver"] == solver
    assert relative_residual(A, x, b) <= TOL
    assert report["relative_residual"] == pytest.approx(relative_residual(A, x, b), rel=1e-6, abs=1e-15)
    assert report["unknowns"] == A.shape[0] and report["nonzeros"] == A.nnz
    assert len(report["residual_history"]) == report["iterations"] + 1


@pytest.mark.parametrize("solver", ["sor", "ssor"])
def test_relaxation_methods(solver):
    A, b = system(12)
    x, report = nabla.solve(A, b, solver=solver, tol=TOL, omega=1.5)
    assert report["converged"] and report["omega"] == 1.5
    assert relative_residual(A, x, b) <= TOL


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_auto_on_lshape(lshape, fmt):
    A, b = lshape
    x, report = nabla.solve(FORMATS[fmt](A), b)
    assert report["solver"] == "amg-pcg" and report["requested_solver"] == "auto"
    assert "algebraic multigrid" in report["solver_reason"]
    assert report["levels"] >= 2 and report["operator_complexity"] >= 1.0
    assert relative_residual(A, x, b) <= TOL
    json.dumps(report)  # JSON-like all the way down


def test_int64_indices_and_initial_guess(lshape):
    A, b = lshape
    A64 = sp.csr_matrix((A.data, A.indices.astype(np.int64), A.indptr.astype(np.int64)), shape=A.shape)
    x0 = np.full(len(b), 0.1)
    x, report = nabla.solve(A64, b, solver="ic0-pcg", x0=x0, tol=1e-10, threads=1)
    assert relative_residual(A, x, b) <= 1e-10
    assert report["threads"] == 1


def test_noncanonical_csr_is_left_alone():
    A, b = system(8)
    # The same matrix with every entry split in two (duplicates) and rows reversed in order.
    rows, cols = A.nonzero()
    vals = np.asarray(A[rows, cols]).ravel()
    order = np.argsort(-cols, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    data = np.concatenate([vals * 0.25, vals * 0.75])
    indices = np.concatenate([cols, cols])
    rr = np.concatenate([rows, rows])
    perm = np.argsort(rr, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rr, minlength=A.shape[0]))])
    M = sp.csr_matrix((data[perm], indices[perm], indptr), shape=A.shape)
    before = (M.data.copy(), M.indices.copy())
    assert not M.has_canonical_format
    x, report = nabla.solve(M, b, solver="cg")
    assert relative_residual(A, x, b) <= TOL
    assert np.array_equal(M.data, before[0]) and np.array_equal(M.indices, before[1])


def test_max_iters_returns_not_converged(square):
    A, b = square
    x, report = nabla.solve(A, b, solver="cg", max_iters=3)
    assert report["converged"] is False and report["iterations"] == 3
    assert report["relative_residual"] > TOL


def test_amg_options_reach_the_hierarchy(lshape):
    A, b = lshape
    x, report = nabla.solve(A, b, solver="amg-pcg", amg_smoother="jacobi", amg_sweeps=2, amg_coarse_size=50)
    assert report["amg_options"]["smoother"] == "jacobi"
    assert report["amg_options"]["sweeps"] == 2
    assert report["amg_levels"][-1]["rows"] <= 50
    assert relative_residual(A, x, b) <= TOL


@pytest.mark.parametrize("solver", ["amg-pcg", "ic0-pcg", "cg"])
def test_same_iterations_and_residual_as_the_cli(tmp_path, cli, lshape, solver):
    A, b = lshape
    scipy.io.mmwrite(tmp_path / "A.mtx", A, precision=17)
    scipy.io.mmwrite(tmp_path / "b.mtx", b[:, None], precision=17)
    cli("poisson", "--matrix", tmp_path / "A.mtx", "--rhs-file", tmp_path / "b.mtx", "--solver", solver,
        "--report", tmp_path / "r.json", "--quiet")
    want = json.loads((tmp_path / "r.json").read_text())
    x, got = nabla.solve(A, b, solver=solver)
    assert got["iterations"] == want["iterations"]
    assert got["relative_residual"] == pytest.approx(want["relative_residual"], rel=1e-6)
    assert got["nonzeros"] == want["nonzeros"] and got["unknowns"] == want["unknowns"]
    for key in ("levels", "operator_complexity", "amg_levels"):
        assert got.get(key) == want.get(key)


def five_point(nx, ny):
    T = lambda n: sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    return (sp.kron(sp.identity(ny), T(nx)) + sp.kron(T(ny), sp.identity(nx))).tocsr()


@pytest.mark.parametrize("shape", [(7, 5), "16x16", (1, 3)])
def test_poisson_grid_is_the_5_point_matrix(shape):
    nx, ny = (int(s) for s in shape.split("x")) if isinstance(shape, str) else shape
    A = nabla.poisson_grid(shape)
    assert sp.isspmatrix_csr(A) and A.shape == (nx * ny, nx * ny)
    assert abs(A - five_point(nx, ny)).max() == 0.0


def test_poisson_grid_3d_and_rhs():
    A, b = nabla.poisson_grid((4, 3, 2), rhs="ones")
    T = lambda n: sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    I = sp.identity
    S = sp.kron(I(2), sp.kron(I(3), T(4))) + sp.kron(I(2), sp.kron(T(3), I(4))) + sp.kron(T(2), sp.kron(I(3), I(4)))
    assert abs(A - S).max() == 0.0 and np.array_equal(b, np.ones(24))
    _, r1 = nabla.poisson_grid("8x8", rhs="random", seed=5)
    _, r2 = nabla.poisson_grid("8x8", rhs="random", seed=5)
    assert np.array_equal(r1, r2) and np.all(np.abs(r1) <= 1) and r1.std() > 0.3


def test_poisson_grid_mask_and_coefficient():
    mask = np.zeros((6, 8), dtype=bool)
    mask[2:4, 3:5] = True
    A = nabla.poisson_grid((8, 6), mask=mask)
    assert A.shape == (44, 44)
    a = np.ones((8, 10))
    B = nabla.poisson_grid((8, 6), coefficient=2.0 * a)
    assert abs(B - 2.0 * five_point(8, 6)).max() < 1e-14


def test_mg_pcg_with_grid():
    A, b = nabla.poisson_grid((63, 63), rhs="random", seed=1)
    x, report = nabla.solve(A, b, solver="mg-pcg", grid=(63, 63))
    assert report["solver"] == "mg-pcg" and report["grid"] == "63x63"
    assert relative_residual(A, x, b) <= TOL
    x, report = nabla.solve(A, b, grid="63x63")
    assert report["solver"] == "mg-pcg" and report["requested_solver"] == "auto"


def test_dcdm_with_a_loaded_model_and_a_path():
    A, b = nabla.poisson_grid((32, 32), rhs="random", seed=2)
    model = nabla.load(RUNS / "dcdm32")
    assert isinstance(model, nabla.DcdmModel) and model.dim == 2
    x, report = nabla.solve(A, b, solver="dcdm", grid=(32, 32), model=model, tol=1e-6)
    assert report["converged"] and report["solver"] == "dcdm"
    assert relative_residual(A, x, b) <= 1e-6
    assert report["network_seconds"] > 0
    x2, report2 = nabla.solve(A, b, solver="dcdm", grid=(32, 32), model=RUNS / "dcdm32", tol=1e-6)
    assert report2["iterations"] == report["iterations"]
    assert np.array_equal(x, x2)
