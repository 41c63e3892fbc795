#!/usr/bin/env python3
"""Unstructured finite-element Poisson matrices, built with scikit-fem.

Used two ways:

* as a library by benches/amg_bench.py, which builds the benchmark matrices (tens of thousands
  to two million unknowns) and caches them in benches/out/amg/;
* as a script, to (re)generate the small test matrices shipped in datasets/ (fe_*.mtx, a few
  thousand unknowns each) and to check that they are symmetric positive definite:

      benches/.venv/bin/python benches/make_fe_datasets.py            # writes datasets/fe_*.mtx
      benches/.venv/bin/python benches/make_fe_datasets.py --check    # only re-verifies them

  (the venv is created by benches/amg_bench.sh; any Python with numpy, scipy and scikit-fem
  works too).

Every matrix discretizes −div(k grad u) = f with u = 0 on the whole boundary: scikit-fem
assembles the stiffness matrix over all degrees of freedom, then the boundary ones are condensed
out (the matrix is the interior block A_II). Node ordering is left as scikit-fem numbers it.
The meshes start from scikit-fem's structured initial meshes, refined, and then every interior
node is moved by a seeded random vector of length up to JITTER × its local mesh size (the
shortest edge at that node), so that no two elements are alike; boundary nodes stay put, and
each element's orientation is checked to be kept.

Families:
  a  P1 triangles on the L-shape (−1, 1)² minus [0, 1]²        (MeshTri.init_lshaped, refined)
  b  P2 triangles on the unit square, distorted (jitter 0.3)    (MeshTri.init_tensor)
  c  P1 triangles on the unit square, 8×8 checkerboard coefficient k ∈ {1, 1000} per element
     (element centroid; nodes on the checker lines only slide along them, so the mesh stays
     conforming to the coefficient's jumps)                      (MeshTri.init_tensor)
  d  P1 tetrahedra on the unit cube                             (MeshTet.init_tensor, 6 per cube)
"""

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from skfem import Basis, BilinearForm, ElementTetP1, ElementTriP1, ElementTriP2, MeshTet, MeshTri, asm
from skfem.assembly import Dofs
from skfem.helpers import dot, grad

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"
# Elements per assembly chunk: bounds scikit-fem's per-quadrature-point arrays (the 2M-unknown
# tetrahedral mesh has 12M elements).
CHUNK = 1_000_000
CHECKER = 8  # checkerboard squares per side (family c)
CHECKER_HIGH = 1000.0
SEED = 2024


@dataclass(frozen=True)
class Family:
    key: str
    name: str  # used in file names
    label: str  # for tables
    dim: int
    jitter: float


FAMILIES = {
    "a": Family("a", "p1_lshape", "P1 tri, L-shape", 2, 0.25),
    "b": Family("b", "p2_square", "P2 tri, distorted square", 2, 0.30),
    "c": Family("c", "p1_checker", "P1 tri, checkerboard 1:1000", 2, 0.25),
    "d": Family("d", "p1_tet", "P1 tet, unit cube", 3, 0.25),
}

# Mesh parameter of each family and size: refinements of init_lshaped (a), points per side of
# init_tensor (b, c, d). Interior unknowns in the comments. "test" is what datasets/ ships;
# the L-shape test mesh also gets one local refinement around the re-entrant corner.
SIZES = {
    "test": {"a": 5, "b": 32, "c": 65, "d": 17},  # 3,7xx / 3,721 / 3,969 / 3,375
    "quick": {"a": 7, "b": 113, "c": 225, "d": 41},  # 48,641 / 49,729 / 49,729 / 59,319
    "small": {"a": 8, "b": 225, "c": 449, "d": 65},  # 195,585 / 199,809 / 199,809 / 250,047
    "large": {"a": 9, "b": 449, "c": 897, "d": 129},  # 784,385 / 801,025 / 801,025 / 2,048,383
}
LOCAL_REFINE_RADIUS = 0.35  # test L-shape: elements with centroid this close to (0, 0)


@BilinearForm
def laplace_k(u, v, w):
    return w.k * dot(grad(u), grad(v))


def _signed_measure(p, t):
    """Signed area (2-D) / 6 × volume (3-D) of each element, for the orientation check."""
    v = [p[:, t[i]] - p[:, t[0]] for i in range(1, t.shape[0])]
    if len(v) == 2:
        return v[0][0] * v[1][1] - v[0][1] * v[1][0]
    return np.einsum("ij,ij->j", v[0], np.cross(v[1], v[2], axis=0))


def on_boundary(family, p):
    """Nodes on the domain's boundary, by their coordinates (exact: the initial meshes put
    them there and refinement only adds midpoints). Cheaper than scikit-fem's boundary_nodes(),
    which builds the facet connectivity (a minute for the 12M-element tetrahedral mesh)."""
    at = lambda v, c: v == c  # noqa: E731
    if family.key == "a":
        x, y = p
        return (np.abs(x) == 1) | (np.abs(y) == 1) | (at(x, 0) & (y >= 0)) | (at(y, 0) & (x >= 0))
    return ((p == 0) | (p == 1)).any(axis=0)


def jitter(p, t, boundary, amount, rng, slide_lines=None):
    """Move each interior node by a random vector, uniform in the ball of radius
    amount × (shortest edge at the node). `slide_lines` (2-D) = coordinates c such that nodes on
    x = c (y = c) keep their x (y): they slide along the line only. Returns new coordinates."""
    p = p.copy()
    dim, nv = p.shape
    h = np.full(nv, np.inf)
    for i in range(t.shape[0]):  # every edge of every element (shared edges repeat: harmless)
        for j in range(i + 1, t.shape[0]):
            length = np.linalg.norm(p[:, t[i]] - p[:, t[j]], axis=0)
            np.minimum.at(h, t[i], length)
            np.minimum.at(h, t[j], length)
    interior = np.flatnonzero(~boundary)
    direction = rng.standard_normal((dim, interior.size))
    direction /= np.linalg.norm(direction, axis=0)
    radius = amount * h[interior] * rng.random(interior.size) ** (1.0 / dim)
    move = direction * radius
    if slide_lines is not None:
        for axis in range(dim):
            on_line = np.isclose(p[axis, interior][:, None], slide_lines[None, :], atol=1e-12).any(axis=1)
            move[axis, on_line] = 0.0
    before = _signed_measure(p, t)
    p[:, interior] += move
    ratio = _signed_measure(p, t) / before
    if not np.all(ratio > 0.05):
        raise RuntimeError(f"jitter {amount} degenerated {np.sum(ratio <= 0.05)} elements")
    return p


def build_mesh(family, param, rng):
    """(mesh, k, boundary): the jittered mesh of `family` at mesh parameter `param`, the
    per-element coefficient k (None: k = 1) and the boundary-node mask."""
    slide, k = None, None
    if family.key == "a":
        m = MeshTri.init_lshaped().refined(param)
        if param == SIZES["test"]["a"]:
            centroid = m.p[:, m.t].mean(axis=1)
            m = m.refined(np.flatnonzero(np.linalg.norm(centroid, axis=0) < LOCAL_REFINE_RADIUS))
    elif family.key in "bc":
        x = np.linspace(0.0, 1.0, param)
        m = MeshTri.init_tensor(x, x)
        if family.key == "c":
            if (param - 1) % CHECKER:
                raise ValueError(f"family c needs points per side ≡ 1 mod {CHECKER}, got {param}")
            slide = np.arange(CHECKER + 1) / CHECKER
    else:
        x = np.linspace(0.0, 1.0, param)
        m = MeshTet.init_tensor(x, x, x)
    boundary = on_boundary(family, m.p)
    if m.p.shape[1] < 100_000:  # cheap here: make sure the predicate is scikit-fem's boundary
        expected = np.zeros(m.p.shape[1], bool)
        expected[m.boundary_nodes()] = True
        assert np.array_equal(boundary, expected), "on_boundary disagrees with skfem's boundary_nodes"
    p = jitter(m.p, m.t, boundary, family.jitter, rng, slide_lines=slide)
    m = type(m)(p, m.t)
    if family.key == "c":
        centroid = m.p[:, m.t].mean(axis=1)
        cell = np.minimum(np.floor(centroid * CHECKER).astype(np.int64), CHECKER - 1)
        k = np.where((cell[0] + cell[1]) % 2 == 1, CHECKER_HIGH, 1.0)
    return m, k, boundary


def assemble_interior(mesh, element, k, boundary):
    """Stiffness matrix of −div(k grad u), boundary DOFs condensed out; exactly symmetric CSR.
    `boundary` is the boundary-node mask (P1: the DOFs are the nodes)."""
    dofs = Dofs(mesh, element)
    # P1: gradients constant, k constant per element → one point would do; skfem's lowest rule
    # is exact. P2: the integrand is quadratic.
    intorder = 2 if isinstance(element, ElementTriP2) else 1
    nel = mesh.t.shape[1]
    a = None
    for start in range(0, nel, CHUNK):
        idx = np.arange(start, min(start + CHUNK, nel))
        basis = Basis(mesh, element, intorder=intorder, elements=idx, dofs=dofs)
        kq = np.ones((idx.size, basis.X.shape[1])) if k is None else np.repeat(k[idx][:, None], basis.X.shape[1], axis=1)
        part = asm(laplace_k, basis, k=kq).tocsr()
        a = part if a is None else a + part
    if isinstance(element, ElementTriP2):  # nodes and edge midpoints: ask scikit-fem
        interior = np.setdiff1d(np.arange(dofs.N), dofs.get_facet_dofs(mesh.boundary_facets()).all())
    else:
        interior = np.flatnonzero(~boundary)
    a = a.tocsr()[interior][:, interior].tocsr()
    a.eliminate_zeros()
    # Mirror the lower triangle: the file stores it and readers mirror it, so every consumer
    # (nabla, scipy, pyamg, AMGCL) sees exactly this matrix.
    low = sp.tril(a, format="csr")
    a = (low + sp.tril(a, k=-1, format="csr").T).tocsr()
    a.sort_indices()
    return a


def element_of(family):
    if family.key == "b":
        return ElementTriP2()
    return ElementTetP1() if family.dim == 3 else ElementTriP1()


def build_matrix(family, size, seed=SEED):
    """(A, info) for a family (Family or key) at a size name of SIZES (or an int mesh parameter)."""
    family = FAMILIES[family] if isinstance(family, str) else family
    param = SIZES[size][family.key] if isinstance(size, str) else int(size)
    rng = np.random.default_rng([seed, ord(family.key), param])
    t0 = time.perf_counter()
    mesh, k, boundary = build_mesh(family, param, rng)
    t1 = time.perf_counter()
    a = assemble_interior(mesh, element_of(family), k, boundary)
    t2 = time.perf_counter()
    info = {
        "family": family.key,
        "description": family.label,
        "mesh_parameter": param,
        "vertices": int(mesh.p.shape[1]),
        "elements": int(mesh.t.shape[1]),
        "unknowns": int(a.shape[0]),
        "nonzeros": int(a.nnz),
        "jitter": family.jitter,
        "seed": seed,
        "mesh_seconds": t1 - t0,
        "assembly_seconds": t2 - t1,
    }
    return a, info


def rhs_for(n, family_key, param, seed=SEED):
    """Random right-hand side uniform in [−1, 1], seeded per matrix."""
    return np.random.default_rng([seed, ord(family_key), param, 1]).uniform(-1.0, 1.0, n)


def _atomic(path, write):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_matrix_fast(path, a, comment=""):
    """Lower triangle, `coordinate real symmetric`, shortest round-trip numbers
    (fast_matrix_market, multithreaded: a 2M-unknown matrix takes seconds, not minutes)."""
    import fast_matrix_market as fmm

    low = sp.tril(a, format="coo")
    _atomic(path, lambda p: fmm.mmwrite(str(p), low, comment=comment, symmetry="symmetric"))


def write_vector_fast(path, b, comment=""):
    import fast_matrix_market as fmm

    _atomic(path, lambda p: fmm.mmwrite(str(p), np.asarray(b, dtype=np.float64).reshape(-1, 1), comment=comment))


def write_matrix_text(path, a, comment_lines):
    """Lower triangle, `coordinate real symmetric`, values as %.17g (the small shipped files)."""
    low = sp.tril(a, format="coo")
    order = np.lexsort((low.row, low.col))  # column by column, as scipy.io.mmwrite does
    rows, cols, vals = low.row[order] + 1, low.col[order] + 1, low.data[order]

    def write(p):
        with open(p, "w") as f:
            f.write("%%MatrixMarket matrix coordinate real symmetric\n")
            for line in comment_lines:
                f.write(f"% {line}\n")
            f.write(f"{a.shape[0]} {a.shape[1]} {low.nnz}\n")
            f.writelines(f"{i} {j} {v:.17g}\n" for i, j, v in zip(rows.tolist(), cols.tolist(), vals.tolist()))

    _atomic(path, write)


def read_matrix(path):
    """CSR matrix of a MatrixMarket file, mirrored if symmetric (fast_matrix_market if present)."""
    try:
        import fast_matrix_market as fmm

        m = fmm.mmread(str(path))
    except ImportError:
        import scipy.io

        m = scipy.io.mmread(str(path))
    m = sp.csr_matrix(m)
    m.sort_indices()
    return m


def read_vector(path):
    try:
        import fast_matrix_market as fmm

        v = fmm.mmread(str(path))
    except ImportError:
        import scipy.io

        v = scipy.io.mmread(str(path))
    return np.asarray(v.todense() if sp.issparse(v) else v, dtype=np.float64).ravel()


def check_spd(a, name):
    """Exact symmetry, a dense Cholesky, and the extreme eigenvalues (eigsh, shift-invert)."""
    import scipy.linalg
    import scipy.sparse.linalg as spla

    asym = abs(a - a.T).max()
    if asym != 0:
        raise AssertionError(f"{name}: not symmetric (max |A − Aᵀ| = {asym:g})")
    scipy.linalg.cholesky(a.toarray(), lower=True)  # raises LinAlgError unless positive definite
    lo = spla.eigsh(a, k=1, sigma=0.0, which="LM", return_eigenvectors=False)[0]
    hi = spla.eigsh(a, k=1, which="LA", return_eigenvectors=False)[0]
    if lo <= 0:
        raise AssertionError(f"{name}: smallest eigenvalue {lo:g} ≤ 0")
    return lo, hi


def dataset_path(family):
    return DATASETS / f"fe_{family.name}.mtx"


def make_datasets(check_only=False):
    import scipy.io
    import skfem

    ok = True
    for family in FAMILIES.values():
        path = dataset_path(family)
        param = SIZES["test"][family.key]
        if not check_only:
            a, info = build_matrix(family, "test")
            how = (f"benches/make_fe_datasets.py (scikit-fem {skfem.__version__}): family {family.key}, "
                   f"{family.label}; mesh parameter {param}, jitter {family.jitter}, seed {SEED}")
            write_matrix_text(path, a, [
                "nabla test matrix: -div(k grad u) = f, u = 0 on the boundary, interior DOFs only",
                how,
                f"{info['vertices']} vertices, {info['elements']} elements, "
                f"{info['unknowns']} unknowns, {info['nonzeros']} nonzeros (both triangles)",
            ])
        b = sp.csr_matrix(scipy.io.mmread(str(path)))  # scipy's own reader, independent of ours
        if not check_only and (b.shape != a.shape or (b != a).nnz):
            print(f"{path.name}: read back differs from the matrix written", file=sys.stderr)
            ok = False
        try:
            lo, hi = check_spd(b, path.name)
            status = f"SPD, λmin {lo:.4g}, λmax {hi:.4g}, cond ≈ {hi / lo:.3g}"
        except Exception as e:  # noqa: BLE001 - report and carry on to the other files
            status, ok = f"FAILED: {e}", False
        size = path.stat().st_size
        print(f"{path.relative_to(ROOT)}: n = {b.shape[0]:,}, nnz = {b.nnz:,} "
              f"({size / 1e6:.2f} MB); {status}")
    return ok


ELASTICITY_PATH = DATASETS / "fe_elasticity_tet.mtx"
ELASTICITY_RBM_PATH = DATASETS / "fe_elasticity_tet_rbm.mtx"


def build_elasticity(nx=7, nz=13):
    """3-D linear elasticity (P1 tetrahedra, E = 1000, ν = 0.3) on the bar [0,1]²×[0,3] clamped
    at z = 0, interleaved (x, y, z) unknowns per node, and its six rigid-body modes restricted to
    the free unknowns (translations, then rotations about z, x, y)."""
    from skfem import ElementVector
    from skfem.models.elasticity import lame_parameters, linear_elasticity

    mesh = MeshTet.init_tensor(np.linspace(0, 1, nx), np.linspace(0, 1, nx), np.linspace(0, 3, nz))
    basis = Basis(mesh, ElementVector(ElementTetP1()))
    k = linear_elasticity(*lame_parameters(1e3, 0.3)).assemble(basis)
    free = basis.complement_dofs(basis.get_dofs(lambda x: x[2] < 1e-9).all())
    a = k[free][:, free].tocsr()
    comp_of = np.zeros(basis.N, dtype=int)
    for c in range(3):
        comp_of[basis.nodal_dofs[c]] = c
    comp = comp_of[free]
    if not np.array_equal(comp, np.arange(len(comp)) % 3):
        raise AssertionError("elasticity unknowns are not interleaved x, y, z per node")
    x, y, z = basis.doflocs[:, free]
    modes = np.zeros((len(comp), 6))
    for c in range(3):
        modes[comp == c, c] = 1.0
    for col, (c1, c2, u, v) in enumerate([(0, 1, y, x), (1, 2, z, y), (2, 0, x, z)], start=3):
        modes[comp == c1, col] = -u[comp == c1]
        modes[comp == c2, col] = v[comp == c2]
    return a, modes


def make_elasticity_dataset(check_only=False):
    """Writes (or only re-checks) the elasticity test matrix and its rigid-body modes."""
    import scipy.io
    import skfem

    if not check_only:
        a, modes = build_elasticity()
        write_matrix_text(ELASTICITY_PATH, a, [
            "nabla test matrix: 3-D linear elasticity, P1 tetrahedra, E = 1000, nu = 0.3, bar "
            "[0,1]^2 x [0,3] clamped at z = 0; unknowns interleaved (x, y, z) per node",
            f"benches/make_fe_datasets.py (scikit-fem {skfem.__version__}): build_elasticity(7, 13)",
        ])
        def write_modes(p):
            with open(p, "wb") as f:  # a file object: given a name, mmwrite appends ".mtx"
                scipy.io.mmwrite(f, modes, precision=17, comment="rigid-body modes of "
                                 "fe_elasticity_tet.mtx: x, y, z translations, rotations about z, x, y")

        _atomic(ELASTICITY_RBM_PATH, write_modes)
    b = sp.csr_matrix(scipy.io.mmread(str(ELASTICITY_PATH)))
    modes = np.asarray(scipy.io.mmread(str(ELASTICITY_RBM_PATH)))
    lo, hi = check_spd(b, ELASTICITY_PATH.name)
    # λmax(SPAI0·A) approaches 2 here (2.01 on finer meshes of the same bar, where undamped
    # SPAI(0) broke PCG down): printed as a record, the AMG damps SPAI(0) above 1.9.
    d = b.diagonal()
    m = d / np.asarray(b.multiply(b).sum(1)).ravel()
    s = sp.diags(np.sqrt(m))
    import scipy.sparse.linalg as spla
    lam = spla.eigsh(s @ b @ s, k=1, which="LA", return_eigenvectors=False)[0]
    rigid = np.abs(b @ modes).max() / np.abs(b).max()
    print(f"{ELASTICITY_PATH.relative_to(ROOT)}: n = {b.shape[0]:,}, nnz = {b.nnz:,}; SPD, "
          f"cond ≈ {hi / lo:.3g}; λmax(SPAI0·A) = {lam:.4f}; modes {modes.shape}, "
          f"max |A·mode| / max |A| = {rigid:.2g} (nonzero only next to the clamped face)")
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="only verify the shipped files")
    args = p.parse_args()
    ok = make_datasets(check_only=args.check)
    ok = make_elasticity_dataset(check_only=args.check) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
