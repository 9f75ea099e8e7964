"""Run notebooks and save their outputs in place, as a reader on GitHub or in the docs sees them (`make outputs`).

Cells marked `#| slow` or `#| eval: false` are not run and keep no output; figures are saved at a small size. Cells
marked `#| espdl` run esp-ppq in its own venv: a notebook that has them is refused until `make espdl` has made it.
Each notebook runs in a fresh process, one thread, from its own folder; afterwards `nbdev_clean` tidies the
metadata. The outputs are the notebooks' own examples, so they change only when the code or data do.
"""
import argparse, os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_RUN_ONE = r"""
import os, re, sys
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
path = Path(sys.argv[1]).resolve()
skip = re.compile(r"^\s*#\s*\|\s*(slow\b|eval:\s*false)", re.M)
nb = read_nb(path)
for c in nb.cells:
    if c.cell_type == "code": c.outputs, c.execution_count = [], None
os.chdir(path.parent)
shell = CaptureShell(path)
shell.run_cell("import matplotlib; matplotlib.rcParams.update({'figure.dpi': 60, 'savefig.dpi': 60})")
shell.run_all(nb, exc_stop=True, preproc=lambda c: c.cell_type != "code" or bool(skip.search(c.source)))
write_nb(nb, path)
"""


def _has_espdl() -> bool:
    "Whether esp-ppq's venv (or $MMDISTILL_ESPDL_PYTHON) is there for the `#| espdl` cells."
    from mmdistill.espdl import EspdlUnavailable, espdl_python
    try: espdl_python(); return True
    except EspdlUnavailable: return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: every notebook under nbs/)")
    a = ap.parse_args()
    files = [Path(f) for f in a.notebooks] or sorted((ROOT / "nbs").rglob("*.ipynb"))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    failed = []
    for f in files:
        if ".ipynb_checkpoints" in f.parts: continue
        if re.search(r'#\s*\|\s*espdl\b', f.read_text(encoding="utf-8")) and not _has_espdl():
            print(f"FAIL {f}: its `#| espdl` cells need esp-ppq's venv: run `make espdl` first", flush=True)
            failed.append(str(f)); continue
        r = subprocess.run([sys.executable, "-c", _RUN_ONE, str(f)], env=env)
        print(f"{'ok  ' if r.returncode == 0 else 'FAIL'} {f}", flush=True)
        if r.returncode: failed.append(str(f))
    subprocess.run([str(Path(sys.executable).parent / "nbdev_clean")], cwd=ROOT, check=True)
    if failed: sys.exit(f"failed: {' '.join(failed)}")


if __name__ == "__main__":
    main()
