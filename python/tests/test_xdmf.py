"""XDMF sidecars read back through meshio (nabla.to_meshio): grids, fields and their placement
against the HDF5 data, for the files of `nabla poisson`, `nabla wos --grid` and `nabla datagen`."""

import h5py
import meshio
import numpy as np
import pytest

import nabla


def test_poisson_2d_nodes_and_fields(tmp_path, cli):
    out = tmp_path / "sol.h5"
    cli("poisson", "--grid", "9x7", "--rhs", "random", "--out", out, "--quiet")
    mesh = nabla.to_meshio(out)
    assert mesh.points.shape == (63, 2)
    k = np.arange(63)
    # Index units, unknown i + 9 j sits at (i, j).
    assert np.array_equal(mesh.points[:, 0], k % 9)
    assert np.array_equal(mesh.points[:, 1], k // 9)
    (block,) = mesh.cells
    assert block.type == "quad" and block.data.shape == (8 * 6, 4)
    # Each quad is a unit square listed counter-clockwise.
    corners = mesh.points[block.data[0]]
    assert np.array_equal(corners, [[0, 0], [1, 0], [1, 1], [0, 1]])
    with h5py.File(out) as f:
        assert np.array_equal(mesh.point_data["u"], f["u"][()].ravel())
        assert np.array_equal(mesh.point_data["b"], f["b"][()].ravel())
    # And out to any format meshio writes.
    mesh.write(tmp_path / "sol.vtu")
    back = meshio.read(tmp_path / "sol.vtu")
    assert np.array_equal(back.point_data["u"], mesh.point_data["u"])


def test_poisson_3d_hexahedra(tmp_path, cli):
    out = tmp_path / "sol3.h5"
    cli("poisson", "--grid", "5x4x3", "--rhs", "ones", "--out", out, "--quiet")
    mesh = nabla.to_meshio(out)
    k = np.arange(60)
    assert np.array_equal(mesh.points, np.column_stack([k % 5, (k // 5) % 4, k // 20]))
    (block,) = mesh.cells
    assert block.type == "hexahedron" and block.data.shape == (4 * 3 * 2, 8)
    # Volume of each hexahedron from its corners: the unit cube.
    hexes = mesh.points[block.data]
    assert np.array_equal(hexes.max(axis=1) - hexes.min(axis=1), np.ones((24, 3)))
    with h5py.File(out) as f:
        assert np.array_equal(mesh.point_data["u"], f["u"][()].ravel())


def test_wos_cells_carry_the_harmonic_function(tmp_path, cli):
    out = tmp_path / "u.h5"
    cli("wos", "--domain", "box:min=0,0;max=2,1", "--grid", "8x4", "--boundary", "x*y",
        "--walks", "400", "--seed", "3", "--out", out, "--quiet")
    mesh = nabla.to_meshio(out)
    (block,) = mesh.cells
    assert block.type == "quad" and block.data.shape == (32, 4)
    centres = mesh.points[block.data].mean(axis=1)
    u = mesh.cell_data["u"][0]
    se = mesh.cell_data["stderr"][0]
    # x*y is harmonic: the estimate at each cell centre is x*y within its Monte Carlo error.
    assert np.all(np.abs(u - centres[:, 0] * centres[:, 1]) < 5 * se + 2e-3)
    assert mesh.points[:, 0].min() == 0 and mesh.points[:, 0].max() == 2
    assert mesh.points[:, 1].min() == 0 and mesh.points[:, 1].max() == 1


def test_darcy_samples_are_frames(tmp_path, cli):
    out = tmp_path / "darcy.h5"
    cli("datagen", "darcy", "--samples", "3", "--resolution", "12", "--out", out, "--quiet")
    frames = nabla.xdmf_frames(out)
    assert len(frames) == 3
    with h5py.File(out) as f:
        tensor, nu = f["tensor"][()], f["nu"][()]
        x, y = f["x-coordinate"][()], f["y-coordinate"][()]
    for k in (0, 2):
        mesh = nabla.to_meshio(out, frame=k)
        assert np.array_equal(mesh.point_data["tensor"], tensor[k, 0].ravel())
        assert np.array_equal(mesh.point_data["nu"], nu[k].ravel())
    # The stored arrays' fast axis (PDEBench's y) is the mesh's first coordinate, as in ParaView.
    mesh = nabla.to_meshio(tmp_path / "darcy.xdmf", frame=frames[1][0])
    assert np.allclose(np.unique(mesh.points[:, 0]), y)
    assert np.allclose(np.unique(mesh.points[:, 1]), x)
    assert np.array_equal(mesh.point_data["tensor"], tensor[1, 0].ravel())


def test_bad_paths_and_frames(tmp_path, cli):
    with pytest.raises(FileNotFoundError, match="no such XDMF sidecar"):
        nabla.to_meshio(tmp_path / "missing.h5")
    out = tmp_path / "sol.h5"
    cli("poisson", "--grid", "4x4", "--rhs", "ones", "--out", out, "--quiet")
    with pytest.raises(IndexError, match="lists 1"):
        nabla.to_meshio(out, frame=3)
    out.rename(tmp_path / "moved.h5")
    with pytest.raises(FileNotFoundError, match="move the .h5 and .xdmf together"):
        nabla.to_meshio(tmp_path / "sol.xdmf")
    (tmp_path / "bad.xdmf").write_text("<Xdmf><Domain/></Xdmf>")
    with pytest.raises(nabla.XdmfError, match="one top-level <Grid>"):
        nabla.to_meshio(tmp_path / "bad.xdmf")


def test_navier_stokes_frames_carry_the_listed_trajectories(tmp_path, cli):
    out = tmp_path / "ns.h5"
    cli("datagen", "navier-stokes", "--samples", "2", "--resolution", "16", "--frames", "3",
        "--out", out, "--quiet")
    frames = nabla.xdmf_frames(out)
    assert len(frames) == 3
    with h5py.File(out) as f:
        tensor = f["tensor"][()]
        t = f["t-coordinate"][()]
    assert [time for _, time in frames] == pytest.approx(list(t[:3]), rel=1e-6)
    mesh = nabla.to_meshio(out, frame=2)
    assert mesh.points.shape == (256, 2)
    for k in range(2):
        assert np.array_equal(mesh.point_data[f"sample_{k}"], tensor[k, 2].ravel())
