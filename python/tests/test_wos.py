"""nabla.wos against exact solutions, with expressions and with Python callables, and against
the CLI's `nabla wos` numbers."""

import csv

import numpy as np
import pytest

import nabla


def disk_points(n=24, radius=0.85, seed=0):
    rng = np.random.default_rng(seed)
    r = radius * np.sqrt(rng.random(n))
    t = 2 * np.pi * rng.random(n)
    return np.column_stack([r * np.cos(t), r * np.sin(t)])


def test_harmonic_xy_in_the_unit_disk_expression_and_callable():
    pts = disk_points()
    exact = pts[:, 0] * pts[:, 1]
    u, se = nabla.wos("ball:dim=2", pts, boundary="x*y", walks=2000, seed=1)
    assert u.shape == se.shape == (len(pts),)
    assert np.all(se > 0)
    assert np.all(np.abs(u - exact) <= 4 * se + 2e-3)
    # A callable computes the same products, so the walks and the numbers are the same.
    uc, sec = nabla.wos("ball:dim=2", pts, boundary=lambda x, y: x * y, walks=2000, seed=1)
    assert np.array_equal(u, uc) and np.array_equal(se, sec)


def test_poisson_with_source_in_a_box():
    # Δu = 4 with u = x² + y²: exact u = x² + y².
    pts = np.array([[0.5, 0.5], [0.25, 0.75], [0.1, 0.2], [0.9, 0.4]])
    exact = (pts**2).sum(axis=1)
    for g, f in [("x^2 + y^2", "4"), (lambda x, y: x * x + y * y, lambda x, y: 4.0), ("x^2+y^2", 4.0)]:
        u, se = nabla.wos("box:min=0,0;max=1,1", pts, boundary=g, source=f, walks=4000, seed=2)
        assert np.all(np.abs(u - exact) <= 4 * se + 3e-3), (g, f, u - exact, se)


def test_same_numbers_as_the_cli(tmp_path, cli):
    pts = disk_points(10, seed=3)
    np.savetxt(tmp_path / "pts.csv", pts, delimiter=",", header="x,y", comments="", fmt="%.17g")
    cli("wos", "--domain", "ball:dim=2", "--points", tmp_path / "pts.csv", "--boundary", "x*y",
        "--source", "1", "--walks", "300", "--seed", "7", "--out", tmp_path / "pred.csv", "--quiet")
    with open(tmp_path / "pred.csv") as f:
        rows = list(csv.DictReader(f))
    u, se = nabla.wos("ball:dim=2", pts, boundary="x*y", source="1", walks=300, seed=7)
    assert np.array_equal(u, [float(r["u"]) for r in rows])
    assert np.array_equal(se, [float(r["stderr"]) for r in rows])


def test_callable_errors_propagate():
    def g(x, y):
        return 1.0 / (x - x)

    with pytest.raises(ZeroDivisionError):
        nabla.wos("ball:dim=2", [[0.1, 0.2]], boundary=g, walks=10)
    with pytest.raises(TypeError):
        nabla.wos("ball:dim=2", [[0.1, 0.2]], boundary=lambda x: x, walks=10)


def test_non_finite_field_is_refused_before_the_run():
    with pytest.raises(ValueError, match=r"boundary callable <lambda> evaluates to NaN at"):
        nabla.wos("ball:dim=2", [[0.1, 0.2]], boundary=lambda x, y: float("nan"), walks=10)
    with pytest.raises(ValueError, match=r"source 'ln\(x\)' evaluates to"):
        nabla.wos("ball:dim=2", [[0.1, 0.2]], boundary="0", source="ln(x)", walks=10)


def test_bad_inputs():
    with pytest.raises(nabla.NablaError, match=r"^point 1 \[2\.0, 0\.0\] is not inside the domain$"):
        nabla.wos("ball:dim=2", [[0.0, 0.0], [2.0, 0.0]], boundary="x")
    with pytest.raises(nabla.NablaError, match="points have 3 columns, the domain is 2-D"):
        nabla.wos("ball:dim=2", [[0.0, 0.0, 0.0]], boundary="x")
    with pytest.raises(nabla.NablaError):
        nabla.wos("blob:dim=2", [[0.0, 0.0]], boundary="x")
    with pytest.raises(ValueError, match="uses z but the domain is 2-D"):
        nabla.wos("ball:dim=2", [[0.0, 0.0]], boundary="z")
    with pytest.raises(ValueError, match="walks must be at least 1"):
        nabla.wos("ball:dim=2", [[0.0, 0.0]], boundary="x", walks=0)
    with pytest.raises(ValueError, match="points must be a 2-D array"):
        nabla.wos("ball:dim=2", [0.0, 0.0], boundary="x")
