"""nabla's XDMF sidecars as meshio meshes.

Every HDF5 field file nabla writes has an XDMF 3 sidecar beside it (``sol.h5`` → ``sol.xdmf``)
describing a *structured* grid (``2DRectMesh``, ``3DRectMesh``, ``3DCoRectMesh``) whose fields
point into the HDF5 file, sample by sample through ``HyperSlab`` items. ParaView reads that as
it is; ``meshio.read`` cannot: meshio's XDMF reader takes one unstructured grid with explicit
point coordinates and connectivity and reads every dataset whole. Writing that into nabla's
files would store the points, the cells and a flat copy of every field beside the data (several
times the file), so instead :func:`to_meshio` reads a sidecar the way ParaView does and builds
the ``meshio.Mesh`` in memory: points at the grid's nodes, quadrilateral (2-D), hexahedral
(3-D) or line (1-D) cells in the grid's C order, node fields as ``point_data`` and cell fields
as ``cell_data``. From there ``mesh.write("sol.vtu")`` gives any format meshio writes.

Needs ``meshio`` and ``h5py`` (``pip install meshio h5py``).
"""

from __future__ import annotations

import os
import pathlib
import xml.etree.ElementTree as ET
from typing import List, Optional, Tuple, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

_NUMBER_TYPES = {
    ("Float", "4"): np.float32,
    ("Float", "8"): np.float64,
    ("Int", "4"): np.int32,
    ("Int", "8"): np.int64,
    ("UInt", "1"): np.uint8,
    ("UChar", "1"): np.uint8,
    ("Char", "1"): np.int8,
}


class XdmfError(ValueError):
    """A sidecar this reader does not understand (one line naming what and where)."""


def sidecar_path(path: PathLike) -> pathlib.Path:
    """The sidecar of a field file: ``sol.h5`` → ``sol.xdmf``; an ``.xdmf`` path is returned as is."""
    p = pathlib.Path(path)
    return p if p.suffix == ".xdmf" else p.with_suffix(".xdmf")


def _grids(path: pathlib.Path) -> List[ET.Element]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such XDMF sidecar (nabla writes one beside each HDF5 field file)")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise XdmfError(f"{path}: not an XML file ({e})") from None
    domain = root.find("Domain")
    if root.tag != "Xdmf" or domain is None:
        raise XdmfError(f"{path}: not an XDMF file (no <Xdmf><Domain>)")
    top = domain.findall("Grid")
    if len(top) != 1:
        raise XdmfError(f"{path}: expected one top-level <Grid>, found {len(top)}")
    grid = top[0]
    if grid.get("GridType") == "Collection":
        return grid.findall("Grid")
    return [grid]


def frames(path: PathLike) -> List[Tuple[str, Optional[float]]]:
    """The grids of a sidecar as ``(name, time)`` pairs, in order: one for a single field file,
    one per listed sample or time frame for a temporal collection (time ``None`` if unset)."""
    out = []
    for g in _grids(sidecar_path(path)):
        t = g.find("Time")
        out.append((g.get("Name", ""), None if t is None else float(t.get("Value"))))
    return out


def _dims(item: ET.Element, where: str) -> Tuple[int, ...]:
    text = item.get("Dimensions")
    if text is None:
        raise XdmfError(f"{where}: a DataItem without Dimensions")
    return tuple(int(d) for d in text.split())


def _read_item(item: ET.Element, base: pathlib.Path, files: dict, where: str) -> np.ndarray:
    """The values of a ``DataItem`` (XML, HDF or a HyperSlab of an HDF item), shaped by its
    ``Dimensions``."""
    dims = _dims(item, where)
    if item.get("ItemType") == "HyperSlab" or item.get("Type") == "HyperSlab":
        children = item.findall("DataItem")
        if len(children) != 2:
            raise XdmfError(f"{where}: a HyperSlab needs two DataItems (selection, data)")
        sel = np.array(children[0].text.split(), dtype=np.int64)
        rank = sel.size // 3
        if rank == 0 or sel.size != 3 * rank:
            raise XdmfError(f"{where}: a HyperSlab selection must be 3 rows of start, stride, count")
        start, stride, count = sel.reshape(3, rank)
        dataset = _hdf_dataset(children[1], base, files, where)
        index = tuple(slice(s, s + c * st, st) for s, st, c in zip(start, stride, count))
        values = np.asarray(dataset[index])
        return values.reshape(dims)
    fmt = item.get("Format", "XML")
    if fmt == "XML":
        key = (item.get("NumberType", item.get("DataType", "Float")), item.get("Precision", "4"))
        dtype = _NUMBER_TYPES.get(key, np.float64)
        return np.array((item.text or "").split(), dtype=dtype).reshape(dims)
    if fmt == "HDF":
        return np.asarray(_hdf_dataset(item, base, files, where)[()]).reshape(dims)
    raise XdmfError(f"{where}: DataItem Format '{fmt}' is not XML or HDF")


def _hdf_dataset(item: ET.Element, base: pathlib.Path, files: dict, where: str):
    import h5py

    text = (item.text or "").strip()
    name, sep, dataset = text.rpartition(":")
    if not sep or not name:
        raise XdmfError(f"{where}: HDF DataItem '{text}' is not FILE:/DATASET")
    file_path = base / name
    if file_path not in files:
        if not file_path.is_file():
            raise FileNotFoundError(f"{file_path}: the HDF5 file the sidecar points to is missing (move the .h5 and .xdmf together)")
        files[file_path] = h5py.File(file_path, "r")
    f = files[file_path]
    if dataset not in f:
        raise XdmfError(f"{where}: dataset '{dataset}' is not in {file_path.name}")
    return f[dataset]


def _axes(grid: ET.Element, base: pathlib.Path, files: dict, where: str):
    """Node counts (slowest axis first) and the coordinates along each axis."""
    topo = grid.find("Topology")
    geo = grid.find("Geometry")
    if topo is None or geo is None:
        raise XdmfError(f"{where}: a grid needs <Topology> and <Geometry>")
    ttype = topo.get("TopologyType", topo.get("Type"))
    gtype = geo.get("GeometryType", geo.get("Type"))
    nodes = tuple(int(d) for d in topo.get("Dimensions", "").split())
    items = geo.findall("DataItem")
    if ttype == "3DCoRectMesh" and gtype == "ORIGIN_DXDYDZ" and len(nodes) == 3 and len(items) == 2:
        origin = _read_item(items[0], base, files, where).astype(np.float64)
        spacing = _read_item(items[1], base, files, where).astype(np.float64)
        coords = [origin[a] + spacing[a] * np.arange(n) for a, n in enumerate(nodes)]
    elif ttype == "2DCoRectMesh" and gtype == "ORIGIN_DXDY" and len(nodes) == 2 and len(items) == 2:
        origin = _read_item(items[0], base, files, where).astype(np.float64)
        spacing = _read_item(items[1], base, files, where).astype(np.float64)
        coords = [origin[a] + spacing[a] * np.arange(n) for a, n in enumerate(nodes)]
    elif ttype in ("2DRectMesh", "3DRectMesh") and gtype in ("VXVY", "VXVYVZ") and len(items) == len(nodes):
        # VX (the fastest axis) comes first.
        coords = [_read_item(it, base, files, where).astype(np.float64).ravel() for it in reversed(items)]
    else:
        raise XdmfError(f"{where}: topology {ttype} with geometry {gtype} is not a structured grid nabla writes")
    for a, (n, c) in enumerate(zip(nodes, coords)):
        if c.size != n:
            raise XdmfError(f"{where}: axis {a} has {n} nodes but {c.size} coordinates")
    return nodes, coords


def _cells(nodes: Tuple[int, ...]):
    """Cells of the structured grid in C order of the cell index, as (meshio type, connectivity),
    over the axes with more than one node."""
    live = [a for a, n in enumerate(nodes) if n > 1]
    node_index = np.arange(int(np.prod(nodes))).reshape(nodes)
    # Drop one-node axes so the corners below run over the grid's real dimensions.
    node_index = node_index.reshape([nodes[a] for a in live])
    if len(live) == 0:
        return "vertex", node_index.reshape(-1, 1)
    if len(live) == 1:
        v = node_index
        return "line", np.stack([v[:-1], v[1:]], axis=-1)
    if len(live) == 2:
        v = node_index  # [slow, fast]: fast is the x of the drawing
        quad = [v[:-1, :-1], v[:-1, 1:], v[1:, 1:], v[1:, :-1]]
        return "quad", np.stack(quad, axis=-1).reshape(-1, 4)
    v = node_index  # [z, y, x]
    bottom = [v[:-1, :-1, :-1], v[:-1, :-1, 1:], v[:-1, 1:, 1:], v[:-1, 1:, :-1]]
    top = [v[1:, :-1, :-1], v[1:, :-1, 1:], v[1:, 1:, 1:], v[1:, 1:, :-1]]
    return "hexahedron", np.stack(bottom + top, axis=-1).reshape(-1, 8)


def to_meshio(path: PathLike, frame: Union[int, str] = 0):
    """The field file ``path`` (``sol.h5`` or its sidecar ``sol.xdmf``) as a ``meshio.Mesh``.

    ``frame`` picks the grid of a temporal collection (Darcy/series samples, DCDM right-hand
    sides, reaction–diffusion time frames) by position or by name (see :func:`frames`); a
    single-grid file has frame 0 only. Points are the grid's nodes as ``(x, y[, z])`` with x
    the fastest axis of the stored arrays (nabla's grid files: x; PDEBench files: their y, as
    in ParaView); node fields are ``point_data``, cell fields ``cell_data`` (one block), every
    field flattened in the grid's C order. Values are read from the HDF5 file now; the mesh does
    not keep it open.
    """
    try:
        import meshio
    except ImportError:
        raise ImportError("nabla.to_meshio needs meshio and h5py: pip install meshio h5py") from None
    side = sidecar_path(path)
    grids = _grids(side)
    if isinstance(frame, str):
        names = [g.get("Name", "") for g in grids]
        if frame not in names:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise KeyError(f"{side}: no frame named '{frame}' (frames: {shown})")
        frame = names.index(frame)
    if not -len(grids) <= frame < len(grids):
        raise IndexError(f"{side}: frame {frame} out of range; the sidecar lists {len(grids)}")
    grid = grids[frame]
    where = f"{side} (frame {grid.get('Name', frame)})"
    base = side.parent
    files: dict = {}
    try:
        nodes, coords = _axes(grid, base, files, where)
        mesh_axes = np.meshgrid(*coords, indexing="ij")
        # Columns x, y[, z]: x is the fastest (last) axis.
        points = np.stack([m.ravel() for m in reversed(mesh_axes)], axis=-1)
        cell_type, cells = _cells(nodes)
        n_points, n_cells = points.shape[0], cells.shape[0]
        point_data, cell_data = {}, {}
        for attr in grid.findall("Attribute"):
            name = attr.get("Name", "")
            item = attr.find("DataItem")
            if item is None:
                raise XdmfError(f"{where}: attribute '{name}' has no DataItem")
            values = _read_item(item, base, files, f"{where}, attribute '{name}'").ravel()
            if attr.get("Center", "Node") == "Node":
                if values.size != n_points:
                    raise XdmfError(f"{where}: node field '{name}' has {values.size} values for {n_points} nodes")
                point_data[name] = values
            else:
                if values.size != n_cells:
                    raise XdmfError(f"{where}: cell field '{name}' has {values.size} values for {n_cells} cells")
                cell_data[name] = [values]
    finally:
        for f in files.values():
            f.close()
    return meshio.Mesh(points, [(cell_type, cells)], point_data=point_data, cell_data=cell_data)
