"""nabla from Python: PDE solvers, learned and classical, over the Rust libraries.

- ``solve(A, b, solver="auto", tol=1e-8, ...)`` -> ``(x, report)``: any scipy sparse SPD
  matrix (CSR, CSC, COO, ...) with every solver of ``nabla poisson``;
- ``poisson_grid(shape, ...)``: the grid Poisson matrix (5-/7-point) as scipy CSR;
- ``wos(domain, points, boundary, source=..., walks=...)`` -> ``(values, stderrs)``:
  Walk-on-Spheres with expression strings or Python callables;
- ``load(run_dir)`` -> ``Pinn`` (``u``, ``grad``, ``laplacian``), ``Operator`` (``predict``) or
  ``DcdmModel``; ``train(config, overrides={...})`` -> the run directory;
- ``to_meshio(path, frame=0)``: a field file nabla wrote (its XDMF sidecar) as a
  ``meshio.Mesh``, to write VTU or any format meshio knows.

Errors of the libraries raise ``NablaError`` with the one-line message the ``nabla`` CLI
prints; bad arguments raise ``ValueError`` / ``TypeError``. Solves, walks and training run
without the GIL, and Ctrl-C stops them (``KeyboardInterrupt``; training keeps its checkpoint).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import DcdmModel, NablaError, Operator, Pinn, __version__, load
from .xdmf import XdmfError, to_meshio
from .xdmf import frames as xdmf_frames

__all__ = [
    "NablaError",
    "Pinn",
    "Operator",
    "DcdmModel",
    "solve",
    "poisson_grid",
    "wos",
    "load",
    "train",
    "to_meshio",
    "xdmf_frames",
    "XdmfError",
    "SOLVERS",
    "__version__",
]

#: The names ``solve`` takes (those of ``nabla poisson --solver``).
SOLVERS = (
    "auto",
    "cg",
    "jacobi-pcg",
    "ic0-pcg",
    "ssor-pcg",
    "mg-pcg",
    "amg-pcg",
    "amg",
    "sor",
    "ssor",
    "dcdm",
)

GridShape = Union[str, Sequence[int]]
Field = Union[str, float, Callable[..., float]]


def _scipy_sparse():
    try:
        import scipy.sparse as sp
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "nabla.solve and nabla.poisson_grid use scipy sparse matrices: pip install scipy"
        ) from e
    return sp


def _canonical_csr(A):
    """A as CSR with sorted, unique column indices (copies only what scipy must)."""
    sp = _scipy_sparse()
    if isinstance(A, np.ndarray):
        if A.ndim != 2:
            raise ValueError(f"A must be a 2-D matrix, got an array of shape {A.shape}")
        A = sp.csr_matrix(A)
    elif not sp.issparse(A):
        raise TypeError(
            f"A must be a scipy sparse matrix (CSR, CSC, COO, ...) or a 2-D numpy array, "
            f"got {type(A).__name__}"
        )
    if np.iscomplexobj(A.data):
        raise TypeError("A is complex; nabla solves real symmetric positive definite systems")
    if A.format != "csr":
        A = A.tocsr()  # a copy made by scipy (duplicates of COO summed)
        if not A.has_canonical_format:
            A.sum_duplicates()
    elif not A.has_canonical_format:
        A = A.copy()  # the caller's matrix is left as it is
        A.sum_duplicates()
    return A


def _index(a: np.ndarray) -> np.ndarray:
    if a.dtype in (np.int32, np.int64) and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=np.int64)


def _vector(v, name: str) -> np.ndarray:
    v = np.asarray(v)
    if v.ndim == 2 and 1 in v.shape:
        v = v.reshape(-1)
    if v.ndim != 1:
        raise ValueError(f"{name} must be a vector (shape (n,)), got shape {v.shape}")
    if np.iscomplexobj(v):
        raise TypeError(f"{name} is complex; nabla solves real systems")
    return np.ascontiguousarray(v, dtype=np.float64)


def solve(
    A,
    b,
    solver: str = "auto",
    tol: float = 1e-8,
    *,
    max_iters: int = 100_000,
    x0=None,
    omega: Optional[float] = None,
    grid: Optional[GridShape] = None,
    model: Union[str, os.PathLike, DcdmModel, None] = None,
    directions: Optional[int] = None,
    amg_theta: Optional[float] = None,
    amg_smoother: Optional[str] = None,
    amg_sweeps: Optional[int] = None,
    amg_coarse_size: Optional[int] = None,
    amg_block_size: Optional[int] = None,
    near_nullspace=None,
    record_history: bool = True,
    threads: Optional[int] = None,
) -> Tuple[np.ndarray, dict]:
    """Solves ``A x = b`` for a sparse symmetric positive definite ``A``.

    ``A``: any scipy sparse matrix or array (CSR is read as it is; CSC, COO and the others are
    converted by scipy first) or a dense 2-D numpy array. ``b``: a vector of length n.

    ``solver``: ``auto`` (``amg-pcg``, the default of ``nabla poisson --matrix``; ``mg-pcg``
    when ``grid=`` is given), ``cg``, ``jacobi-pcg``, ``ic0-pcg``, ``ssor-pcg``, ``amg-pcg``,
    ``amg``, ``sor``, ``ssor``, ``mg-pcg`` (needs ``grid=(nx, ny[, nz])``: A must be a
    stencil matrix of that grid, unknown ``i + nx*j``), ``dcdm`` (needs ``grid=`` and
    ``model=``). The other keywords are the flags of ``nabla poisson`` with ``_`` for ``-``.

    Stops when ``‖b − A x‖₂ ≤ tol·‖b‖₂``. Returns ``(x, report)``; ``report`` is a dict with
    the field names of ``nabla poisson --report`` (``converged``, ``iterations``,
    ``relative_residual`` recomputed from x, ``setup_seconds``, ``solve_seconds``,
    ``residual_history``, ``solver``, AMG hierarchy fields, ...) plus ``conversion_seconds``
    (copying A into nabla) and ``seconds`` (the whole call). A solve that stops at
    ``max_iters`` returns normally with ``report["converged"] == False``.
    """
    A = _canonical_csr(A)
    b = _vector(b, "b")
    if x0 is not None:
        x0 = _vector(x0, "x0")
    if near_nullspace is not None:
        near_nullspace = np.asarray(near_nullspace, dtype=np.float64)
        if near_nullspace.ndim == 1:
            near_nullspace = near_nullspace[:, None]
    if model is not None and not isinstance(model, DcdmModel):
        model = os.fspath(model)
    return _native.solve_csr(
        (int(A.shape[0]), int(A.shape[1])),
        _index(A.indptr),
        _index(A.indices),
        np.ascontiguousarray(A.data, dtype=np.float64),
        b,
        solver=solver,
        tol=tol,
        max_iters=max_iters,
        x0=x0,
        omega=omega,
        grid=grid,
        model=model,
        directions=directions,
        amg_theta=amg_theta,
        amg_smoother=amg_smoother,
        amg_sweeps=amg_sweeps,
        amg_coarse_size=amg_coarse_size,
        amg_block_size=amg_block_size,
        near_nullspace=near_nullspace,
        record_history=record_history,
        threads=threads,
    )


def poisson_grid(
    shape: GridShape,
    *,
    coefficient=None,
    mask=None,
    rhs: Optional[str] = None,
    seed: int = 0,
):
    """The grid Poisson matrix of ``nabla poisson --grid`` as a scipy CSR matrix.

    ``shape``: ``(nx, ny[, nz])`` or ``"NXxNY[xNZ]"`` interior unknowns; unknown
    ``(i, j, k)`` is row ``i + nx*j + nx*ny*k``. The matrix is the h²-scaled 5-point (7-point)
    discretization of −∇·(a∇u) with u = 0 on the boundary: diagonal 4 (6), neighbours −1 for
    a ≡ 1. ``coefficient``: nodal values of a including the boundary layer, shape
    ``([nz+2,] ny+2, nx+2)`` (x fastest) or flat. ``mask``: booleans ``([nz,] ny, nx)``, True
    = solid cell (removed from the system). ``rhs``: ``"random"`` (uniform in [−1, 1], seeded
    by ``seed``), ``"ones"`` or ``"point"``; then ``(A, b)`` is returned.
    """
    sp = _scipy_sparse()
    if coefficient is not None:
        coefficient = np.asarray(coefficient, dtype=np.float64)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
    indptr, indices, data, n, b = _native.poisson_grid_csr(
        shape, coefficient=coefficient, mask=mask, rhs=rhs, seed=seed
    )
    A = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    return A if rhs is None else (A, b)


def wos(
    domain: str,
    points,
    boundary: Field,
    *,
    source: Optional[Field] = None,
    sigma: float = 0.0,
    walks: int = 128,
    epsilon: float = 1e-3,
    max_steps: int = 1024,
    seed: int = 0,
    unfinished: str = "stop",
    control_variates: bool = False,
    threads: Optional[int] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Walk-on-Spheres estimates of u at ``points`` for Δu − σu = f in Ω, u = g on ∂Ω.

    Note the sign: Δu = f, as ``nabla wos`` (``nabla poisson`` solves −Δu = f).
    ``domain``: a spec as ``nabla wos --domain`` takes (``"ball:dim=2"``,
    ``"box:min=0,0;max=1,1"``, ``"lshape"``, CSG, meshes). ``points``: ``[n, d]``, inside Ω.
    ``boundary`` (g) and ``source`` (f): an expression string (``"x*y"``, evaluated in Rust),
    a number, or a Python callable ``f(x, y[, z]) -> float`` (called once per walk for g and
    once per step for f, each call taking the GIL: see the README for the cost).
    Returns ``(values, stderrs)``; the same seed gives the CLI's numbers for any thread count.
    """
    return _native.wos(
        domain,
        np.asarray(points, dtype=np.float64),
        boundary,
        source=source,
        sigma=sigma,
        walks=walks,
        epsilon=epsilon,
        max_steps=max_steps,
        seed=seed,
        unfinished=unfinished,
        control_variates=control_variates,
        threads=threads,
    )


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_value(v: Any) -> str:
    """A Python value as a TOML value (for ``train(overrides=...)``)."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, (str, os.PathLike)):
        return json.dumps(os.fspath(v))
    if isinstance(v, Mapping):
        items = ", ".join(
            f"{k if _BARE_KEY.match(str(k)) else json.dumps(str(k))} = {_toml_value(x)}"
            for k, x in v.items()
        )
        return "{ " + items + " }" if items else "{}"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} as a TOML config value")


def _overrides(overrides) -> list:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return [f"{k}={_toml_value(v)}" for k, v in overrides.items()]
    if isinstance(overrides, str):
        return [overrides]
    return [str(o) for o in overrides]


def train(
    config: Union[str, os.PathLike],
    overrides: Union[Mapping[str, Any], Iterable[str], None] = None,
    out: Union[str, os.PathLike, None] = None,
    resume: bool = False,
) -> pathlib.Path:
    """Trains the run config ``config`` (TOML, any task) into a run directory and returns it.

    ``overrides``: ``{"train.seed": 3, "model.hidden": [32, 32]}`` (Python values written as
    TOML) or ``["train.seed=3", ...]`` as ``nabla train --set`` takes. ``out``: the run
    directory (default ``runs/<config name>``, as ``nabla train``). ``resume``: continue the
    run in ``out`` from its checkpoint. Ctrl-C stops after the current step with the checkpoint
    written and raises ``KeyboardInterrupt``; continue with ``resume=True``.
    """
    run_dir = _native.train(
        os.fspath(config),
        _overrides(overrides),
        None if out is None else os.fspath(out),
        resume,
    )
    return pathlib.Path(run_dir)
