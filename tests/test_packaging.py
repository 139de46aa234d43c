"""One package root: the wheel holds `edgekit/` only, and a base install imports the light
runtime without torch, and no top-level `runtime` or `converters`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from tests.conftest import REPO


def test_the_wheel_holds_only_the_edgekit_package(tmp_path):
    source = shutil.copytree(
        REPO,
        tmp_path / "src",
        ignore=shutil.ignore_patterns(".venv", ".git", "node_modules", "build", "*.egg-info", "__pycache__", "out"),
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("edgekit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"edgekit", wheel.name.split("-py3")[0] + ".dist-info"}
    assert {"edgekit/data/benchmarks.json", "edgekit/runtime/validate.py", "edgekit/converters/pipeline.py"} <= set(
        names
    )


def test_a_base_install_imports_the_runtime_and_no_top_level_packages(base_venv, tmp_path):
    probe = (
        "import importlib.util as u; "
        "print([m for m in ('edgekit.runtime', 'edgekit.converters', 'runtime', 'converters', 'torch', "
        "'tensorflow') if u.find_spec(m) is not None]); import edgekit.runtime.validate"
    )
    result = subprocess.run(
        [str(base_venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "['edgekit.runtime', 'edgekit.converters']"
