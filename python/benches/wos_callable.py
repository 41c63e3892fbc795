"""The cost of a Python callable as Walk-on-Spheres boundary data, against the same function as
a nabla expression: u = x·y on the unit disk, the boundary read once per walk.

    python python/benches/wos_callable.py [POINTS] [WALKS]

Prints the seconds of each run and the extra cost per callable evaluation.
"""

import sys
import time

import numpy as np

import nabla

points = int(sys.argv[1]) if len(sys.argv) > 1 else 200
walks = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
rng = np.random.default_rng(0)
r = 0.9 * np.sqrt(rng.random(points))
t = 2 * np.pi * rng.random(points)
pts = np.column_stack([r * np.cos(t), r * np.sin(t)])
evaluations = points * walks


def best_of(k, f):
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


for threads in (None, 1):
    t_expr, (u1, _) = best_of(3, lambda: nabla.wos("ball:dim=2", pts, boundary="x*y", walks=walks, threads=threads))
    t_call, (u2, _) = best_of(3, lambda: nabla.wos("ball:dim=2", pts, boundary=lambda x, y: x * y, walks=walks, threads=threads))
    assert np.array_equal(u1, u2)
    label = "all cores" if threads is None else f"{threads} thread"
    print(
        f"{label}: {evaluations} boundary evaluations; expression {t_expr:.3f} s, callable {t_call:.3f} s; "
        f"{1e9 * t_expr / evaluations:.0f} ns per walk with the expression, "
        f"+{1e9 * (t_call - t_expr) / evaluations:.0f} ns per callable evaluation"
    )
