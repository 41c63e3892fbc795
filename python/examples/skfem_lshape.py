# Assemble with scikit-fem, solve with nabla, compare with pyamg, plot.
# pip install ./python scikit-fem pyamg matplotlib   (then: python python/examples/skfem_lshape.py)
import time
import matplotlib.pyplot as plt, numpy as np, pyamg
import nabla
from skfem import Basis, ElementTriP1, MeshTri, asm, condense
from skfem.models.poisson import laplace, unit_load
from skfem.visuals.matplotlib import plot

mesh = MeshTri.init_lshaped().refined(8)  # 197k nodes, P1 triangles; -Δu = 1, u = 0 on the boundary
basis = Basis(mesh, ElementTriP1())
A, b, u, I = condense(asm(laplace, basis), asm(unit_load, basis), D=basis.get_dofs())
t = time.perf_counter(); u[I], report = nabla.solve(A, b, tol=1e-8); t_nabla = time.perf_counter() - t
t = time.perf_counter(); res = []
x_amg = pyamg.smoothed_aggregation_solver(A).solve(b, tol=1e-8, accel="cg", residuals=res)
t_pyamg = time.perf_counter() - t
print(f"{A.shape[0]} unknowns. nabla {report['solver']}: {report['iterations']} iterations, {t_nabla:.2f} s; "
      f"pyamg: {len(res) - 1} iterations, {t_pyamg:.2f} s ({t_pyamg / t_nabla:.1f}x nabla's time); "
      f"max |u_nabla - u_pyamg| / max |u| = {np.abs(u[I] - x_amg).max() / np.abs(u).max():.1e}")
ax = plot(mesh, u, shading="gouraud", colorbar=True)
ax.set_title("-Δu = 1 on the L-shape (nabla)"); plt.savefig("lshape.png", dpi=150)
