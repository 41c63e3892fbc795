"""The README's scikit-fem script runs as shown: it is python/examples/skfem_lshape.py verbatim,
and running it solves the L-shape with nabla to pyamg's answer and writes the plot."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "python" / "examples" / "skfem_lshape.py"


def test_readme_shows_the_script_verbatim():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- python/examples/skfem_lshape.py -->\n```python\n(.*?)```", readme, re.S)
    assert block, "README lost the scikit-fem script block"
    assert block.group(1) == SCRIPT.read_text()
    assert len(SCRIPT.read_text().splitlines()) <= 21


def test_the_script_runs_and_agrees_with_pyamg(tmp_path):
    for module in ("skfem", "pyamg", "matplotlib"):
        pytest.importorskip(module)
    env = dict(os.environ, MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = re.search(r"(\d+) unknowns\. nabla amg-pcg: (\d+) iterations.*pyamg: (\d+) iterations.*= ([0-9.e+-]+)$",
                  r.stdout.strip())
    assert m, r.stdout
    assert int(m.group(1)) > 190_000
    assert float(m.group(4)) < 1e-6
    assert (tmp_path / "lshape.png").stat().st_size > 10_000


def test_package_readme_is_the_readme_section():
    readme = (REPO / "README.md").read_text()
    start = readme.index("## nabla from Python")
    end = readme.index("\n## ", start + 5)
    assert (REPO / "python" / "README.md").read_text() == readme[start:end].rstrip() + "\n"
