import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
RUNS = REPO / "datasets" / "runs"


def nabla_binary() -> pathlib.Path:
    return pathlib.Path(os.environ.get("NABLA_BIN", REPO / "target" / "debug" / "nabla"))


@pytest.fixture(scope="session")
def cli():
    """Runs the nabla CLI (built by `cargo build -p nabla-cli`; NABLA_BIN overrides the path)."""
    exe = nabla_binary()
    if not exe.is_file():
        pytest.fail(f"{exe} not found: build it with `cargo build -p nabla-cli` (or set NABLA_BIN)")

    def run(*args, cwd=None):
        r = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd)
        if r.returncode != 0:
            raise AssertionError(f"nabla {' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
        return r

    return run
