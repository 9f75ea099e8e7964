"""Tests that cannot live in a notebook: the installed console script and the sync check of `make test`."""
import shutil, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import run_tests  # noqa: E402


def _script(name):
    path = Path(sys.executable).parent / name
    if not path.exists(): pytest.skip(f"{name} is not installed next to {sys.executable}")
    return str(path)


def test_console_script_version_and_data():
    out = subprocess.run([_script("mmdistill"), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("mmdistill ")
    out = subprocess.run([_script("mmdistill"), "data"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "total windows" in out.stdout and "test subjects: 2 4 9 10 12 13 18 20 24" in out.stdout


def test_sync_check_passes_on_the_committed_tree():
    assert run_tests.check_sync() == []


def test_sync_check_catches_a_stale_package_and_a_dirty_notebook(tmp_path, monkeypatch):
    for name in ("settings.ini", "setup.py", "README.md"): shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "nbs", tmp_path / "nbs")
    shutil.copytree(ROOT / "mmdistill", tmp_path / "mmdistill", ignore=shutil.ignore_patterns("__pycache__"))
    core = tmp_path / "mmdistill" / "core.py"
    core.write_text(core.read_text() + "\n# edited by hand\n")
    nb = tmp_path / "nbs" / "00_core.ipynb"
    nb.write_text(nb.read_text().replace('"metadata": {}', '"metadata": {"collapsed": true}', 1))
    monkeypatch.setattr(run_tests, "ROOT", tmp_path)
    problems = run_tests.check_sync()
    assert any("nbdev_export would change mmdistill/core.py" in p for p in problems), problems
    assert any("nbdev_clean would change nbs/00_core.ipynb" in p for p in problems), problems
