"""Bad inputs raise with one-line messages: NablaError for what the libraries refuse (the CLI's
messages), ValueError/TypeError for arguments the binding refuses; Ctrl-C stops long calls."""

import _thread
import shutil
import signal
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

import nabla
from conftest import REPO

A3 = sp.csr_matrix(np.array([[4.0, -1, 0], [-1, 4, -1], [0, -1, 4]]))


def one_line(excinfo):
    message = str(excinfo.value)
    assert message and "\n" not in message, message
    return message


def test_non_square_matrix():
    with pytest.raises(nabla.NablaError) as e:
        nabla.solve(sp.random(3, 4, density=0.5, format="csr", random_state=1), np.ones(3))
    assert one_line(e) == "matrix is not square (3 x 4); a linear solve needs a square matrix"


def test_nan_in_b():
    with pytest.raises(nabla.NablaError) as e:
        nabla.solve(A3, np.array([1.0, np.nan, 1.0]))
    assert one_line(e) == "non-finite value: right-hand side entry 2 is NaN"


def test_nan_in_matrix():
    B = A3.copy()
    B.data[0] = np.inf
    with pytest.raises(nabla.NablaError, match=r"^non-finite value: entry \(1, 1\) is inf") as e:
        nabla.solve(B, np.ones(3))
    one_line(e)


def test_wrong_b_length():
    with pytest.raises(nabla.NablaError) as e:
        nabla.solve(A3, np.ones(4))
    assert one_line(e) == "dimension mismatch: right-hand side has 4 entries, the matrix has 3 rows"
    with pytest.raises(ValueError, match="b must be a vector"):
        nabla.solve(A3, np.ones((3, 2)))


def test_unknown_solver():
    with pytest.raises(ValueError) as e:
        nabla.solve(A3, np.ones(3), solver="gmres")
    assert one_line(e).startswith("invalid parameter: unknown solver 'gmres' (expected one of cg, jacobi-pcg")
    assert one_line(e).endswith(", dcdm or auto")


def test_not_symmetric_and_not_positive_definite():
    N = sp.csr_matrix(np.array([[4.0, -2, 0], [-1, 4, -1], [0, -1, 4]]))
    with pytest.raises(nabla.NablaError, match=r"^matrix is not symmetric: entry \(1, 2\)") as e:
        nabla.solve(N, np.ones(3), solver="cg")
    one_line(e)
    # SOR does not need symmetry.
    x, report = nabla.solve(N, np.ones(3), solver="sor")
    assert report["converged"]
    with pytest.raises(nabla.NablaError, match="not positive definite") as e:
        nabla.solve(-A3, np.ones(3), solver="cg")
    one_line(e)


def test_arguments_the_binding_refuses():
    with pytest.raises(ValueError, match=r"^tol must be in \(0, 1\), got 2$"):
        nabla.solve(A3, np.ones(3), tol=2.0)
    with pytest.raises(ValueError, match="omega is the relaxation factor of sor, ssor and ssor-pcg; cg does not use it"):
        nabla.solve(A3, np.ones(3), solver="cg", omega=1.2)
    with pytest.raises(ValueError, match=r"omega must be in \(0, 2\) for sor"):
        nabla.solve(A3, np.ones(3), solver="sor", omega=2.5)
    with pytest.raises(ValueError, match="amg_theta sets up algebraic multigrid"):
        nabla.solve(A3, np.ones(3), solver="cg", amg_theta=0.1)
    with pytest.raises(ValueError, match="needs model="):
        nabla.solve(A3, np.ones(3), solver="dcdm", grid=(3, 1))
    with pytest.raises(nabla.NablaError, match="multigrid needs a grid problem"):
        nabla.solve(A3, np.ones(3), solver="mg-pcg")
    with pytest.raises(nabla.NablaError, match="dimension mismatch: grid 4x4 has 16 unknowns"):
        nabla.solve(A3, np.ones(3), solver="mg-pcg", grid=(4, 4))
    with pytest.raises(TypeError, match="scipy sparse matrix"):
        nabla.solve([[1.0]], np.ones(1))
    with pytest.raises(ValueError, match="unknown rhs 'zeros'"):
        nabla.poisson_grid((4, 4), rhs="zeros")
    with pytest.raises(nabla.NablaError):
        nabla.poisson_grid("4y4")


class interrupt_after:
    """A simulated Ctrl-C to the main thread `seconds` into the block, with Python's own SIGINT
    handler in place for the block: a shell starts background jobs with SIGINT ignored, Python
    then installs no handler, and `interrupt_main` does nothing (the suite hung when run in the
    background)."""

    def __init__(self, seconds):
        self.timer = threading.Timer(seconds, _thread.interrupt_main)

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        signal.signal(signal.SIGINT, self.previous)
        return False


def test_ctrl_c_stops_a_solve():
    A, b = nabla.poisson_grid((700, 700), rhs="random")
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt, match=r"^cg stopped by Ctrl-C after \d+ iterations"):
        with interrupt_after(0.5):
            nabla.solve(A, b, solver="cg", tol=1e-15, max_iters=10**7)
    assert time.perf_counter() - t0 < 5.0


def test_ctrl_c_stops_walk_on_spheres():
    pts = np.random.default_rng(0).random((2000, 2)) * 0.5
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt, match=r"^Walk-on-Spheres stopped by Ctrl-C after \d+ of 2000 points$"):
        with interrupt_after(0.5):
            nabla.wos("ball:dim=2", pts, boundary=lambda x, y: x * y, walks=20000)
    assert time.perf_counter() - t0 < 5.0


def test_ctrl_c_stops_training_with_a_checkpoint(tmp_path):
    config = tmp_path / "pinn.toml"
    shutil.copy(REPO / "configs" / "pinn_poisson2d.toml", config)
    overrides = {
        "train.optimizer": [{"kind": "adam", "steps": 100000, "lr": 1e-3}],
        "train.progress": False,
        "model.hidden": [16, 16],
        "sampling.interior": 256,
        "eval.grid": 11,
    }
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt, match="resume=True") as e:
        with interrupt_after(2.0):
            nabla.train(config, overrides=overrides, out=tmp_path / "run")
    assert time.perf_counter() - t0 < 30.0
    assert (tmp_path / "run" / "checkpoint.safetensors").is_file()
    one_line(e)


def test_a_real_sigint_stops_a_solve_in_a_subprocess():
    import subprocess
    import sys

    # The child sets Python's SIGINT handler itself: it may inherit SIGINT ignored (background).
    code = (
        "import signal\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import nabla\n"
        "A, b = nabla.poisson_grid((700, 700), rhs='random')\n"
        "print('ready', flush=True)\n"
        "nabla.solve(A, b, solver='cg', tol=1e-15, max_iters=10**7)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        t0 = time.perf_counter()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=20)
    finally:
        p.kill()
    assert time.perf_counter() - t0 < 5.0
    assert p.returncode != 0
    assert "KeyboardInterrupt: cg stopped by Ctrl-C after" in err, err
