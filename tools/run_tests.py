"""Run every mmdistill test and end with one line `N passed, N failed`.

1. Check that the committed tree is in sync: `nbdev_export` must not change `mmdistill/`
   and `nbdev_clean` must not change a notebook (both run on a scratch copy, never in place).
2. Run the notebooks with nbdev's own `test_nb` (two at a time), as `nbdev_test` does.
   With `--slow`, run only the notebooks that have `#| slow` cells, with those cells on.
3. Run the tests kept outside notebooks (`tests/`, pytest), counting one result per file; not `tests/thirdparty`,
   which needs the real third-party libraries (`make test-thirdparty`).
"""
import argparse, hashlib, os, re, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tree_hashes(root: Path, sub: str, pattern: str):
    base = root / sub
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob(pattern)) if p.is_file() and '.ipynb_checkpoints' not in p.parts
            and '__pycache__' not in p.parts}


def check_sync() -> list:
    "Return a list of problems: files that `nbdev_export` or `nbdev_clean` would change."
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in ('settings.ini', 'setup.py', 'README.md'):
            if (ROOT / name).exists(): shutil.copy2(ROOT / name, tmp / name)
        shutil.copytree(ROOT / 'nbs', tmp / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints', '_proc'))
        shutil.copytree(ROOT / 'mmdistill', tmp / 'mmdistill', ignore=shutil.ignore_patterns('__pycache__'))
        before_lib, before_nbs = _tree_hashes(tmp, 'mmdistill', '*.py'), _tree_hashes(tmp, 'nbs', '*.ipynb')
        bindir = Path(sys.executable).parent
        for cmd in ('nbdev_export', 'nbdev_clean'):
            r = subprocess.run([str(bindir / cmd)], cwd=tmp, capture_output=True, text=True)
            if r.returncode != 0:
                problems.append(f'{cmd} failed:\n{r.stdout}{r.stderr}')
        after_lib, after_nbs = _tree_hashes(tmp, 'mmdistill', '*.py'), _tree_hashes(tmp, 'nbs', '*.ipynb')
        for f in sorted(set(before_lib) | set(after_lib)):
            if before_lib.get(f) != after_lib.get(f):
                problems.append(f'nbdev_export would change {f}: run `nbdev_export` and commit the result')
        for f in sorted(set(before_nbs) | set(after_nbs)):
            if before_nbs.get(f) != after_nbs.get(f):
                problems.append(f'nbdev_clean would change {f}: run `nbdev_clean` and commit the result')
    return problems


def _notebooks(slow: bool):
    from nbdev.doclinks import nbglob
    from nbdev.config import get_config
    files = [Path(f).absolute() for f in sorted(nbglob(as_path=True))]
    files = [f for f in files if not any(p.name == '.notest' for p in f.parent.iterdir())]
    if slow:  # only the notebooks that hold `#| slow` cells need a second, flagged run
        files = [f for f in files if re.search(r'#\s*\|\s*slow\b', f.read_text(encoding='utf-8'))]
    return files, get_config()


_RUN_ONE = """
import os, sys
from pathlib import Path
from nbdev.test import test_nb
fn, basepath, skip, force = Path(sys.argv[1]), sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
os.chdir(fn.parent)
ok, secs = test_nb(fn, skip_flags=skip, force_flags=force, basepath=basepath)
sys.exit(0 if ok else 1)
"""


# Notebooks run side by side: give each one a share of the cores. Two processes that each spin two
# OpenMP threads on two cores run small models ~100x slower than one thread each.
_ENV = dict(os.environ)


def _run_nb(job):
    "Run one notebook in a fresh process (as `nbdev_test` does) and return (passed, seconds)."
    fn, skip, force, basepath = job
    start = time.time()
    r = subprocess.run([sys.executable, '-c', _RUN_ONE, str(fn), basepath, ' '.join(skip), ' '.join(force)], env=_ENV)
    return r.returncode == 0, time.time() - start


def run_notebooks(slow: bool, workers: int):
    files, cfg = _notebooks(slow)
    skip = cfg.tst_flags.split()
    force = ['slow'] if slow else []
    jobs = [(f, skip, force, str(cfg.config_path)) for f in files]
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    for var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'): _ENV.setdefault(var, threads)
    results = []
    with ThreadPoolExecutor(max_workers=workers) as ex:
        for f, (ok, secs) in zip(files, ex.map(_run_nb, jobs)):
            print(f"{'ok  ' if ok else 'FAIL'} {f.relative_to(ROOT)} ({secs:.1f} s)", flush=True)
            results.append((str(f.relative_to(ROOT)), ok))
    return results


def run_pytest(slow: bool):
    tests = ROOT / 'tests'
    # tests/thirdparty needs the real third-party libraries: `make test-thirdparty` installs them and runs it
    files = sorted(p for p in tests.rglob('test_*.py') if 'thirdparty' not in p.relative_to(tests).parts) if tests.exists() else []
    results = []
    for f in files:
        cmd = [sys.executable, '-m', 'pytest', '-q', str(f)] + (['-m', 'slow'] if slow else ['-m', 'not slow'])
        r = subprocess.run(cmd, cwd=ROOT)
        if r.returncode == 5: continue  # no test in this file for this run (slow or not)
        print(f"{'ok  ' if r.returncode == 0 else 'FAIL'} {f.relative_to(ROOT)}", flush=True)
        results.append((str(f.relative_to(ROOT)), r.returncode == 0))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--slow', action='store_true', help='run the `#| slow` cells (and slow pytest tests)')
    ap.add_argument('--workers', type=int, default=min(os.cpu_count() or 1, 2))
    ap.add_argument('--no-sync-check', action='store_true', help='skip the nbdev_export / nbdev_clean check')
    ap.add_argument('--sync-only', action='store_true', help='only check that notebooks are clean and exported')
    a = ap.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    start = time.time()
    results = []
    if not a.no_sync_check:
        problems = check_sync()
        for p in problems: print('FAIL', p, flush=True)
        if not problems: print('ok   sync: nbdev_export and nbdev_clean change nothing', flush=True)
        results.append(('sync: nbdev_export / nbdev_clean', not problems))
        if a.sync_only:
            print(f"{'1 passed, 0 failed' if not problems else '0 passed, 1 failed'}")
            sys.exit(1 if problems else 0)
    results += run_notebooks(a.slow, a.workers)
    results += run_pytest(a.slow)
    failed = [n for n, ok in results if not ok]
    if failed: print('failed:', *failed, sep='\n  ')
    print(f'({time.time() - start:.0f} s)')
    print(f'{len(results) - len(failed)} passed, {len(failed)} failed')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
