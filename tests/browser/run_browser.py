"""Real-browser test of the explorers of `mmdistill.explore`, as a person would use them.

1. Copy `explore_demo.ipynb` (next to this file) to a temporary folder and start JupyterLab there: on
   127.0.0.1, a free port, a random token, no browser, and Jupyter's config, data and settings in the
   temporary folder (news and update checks off).
2. Open the notebook in headless Chromium, driven by Playwright with Debian's `/usr/bin/chromium`
   (Playwright never downloads a browser here) and a fresh profile, and run it with Run → Run All Cells.
3. Check that both explorers render (their controls and figure images), that every cell ran without an
   error, and that changing a control changes the figure: the attention explorer's sample slider (arrow
   key) and class dropdown, the embedding explorer's colour dropdown and point slider.
4. Save screenshots of both explorers in `--out` (default `runs/browser/`), and in `--screenshots` too
   when given (`make screenshots` refreshes the README's, in `docs/img/`).

JupyterLab (and its kernel) is always stopped at the end. The last line is `N passed, N failed`.
"""
import argparse, json, os, re, secrets, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = Path(__file__).with_name("explore_demo.ipynb")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUN_TIMEOUT_S = 420  # the whole notebook: a 120-step teacher, then UMAP's first fit (~20 s of compiling)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path, home: Path, port: int, token: str, log) -> subprocess.Popen:
    "JupyterLab serving `root`, with its config, data, runtime and settings under `home`; in its own process group."
    settings = home / "lab-settings"
    quiet = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
             "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"}}
    for name, value in quiet.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "HF_HUB_OFFLINE": "1"}
    env.pop("MPLBACKEND", None)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
           "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"] + (["--allow-root"] if os.geteuid() == 0 else [])
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_lab(proc: subprocess.Popen):
    "Stop JupyterLab and its kernels (its own process group), politely first."
    if proc.poll() is None:
        try: os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError: pass
        try: proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    try: os.killpg(proc.pid, signal.SIGKILL)  # kernels left in the group
    except ProcessLookupError: pass


def wait_for_lab(proc, port: int, token: str, timeout: float = 90):
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None: raise RuntimeError(f"JupyterLab exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200: return
        except OSError: time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer on port {port} within {timeout:.0f} s")


class Checks:
    "Named checks run in order; after the first failure the rest are counted as failed, not run."
    def __init__(self): self.results, self.broken = [], None

    def run(self, name: str, fn):
        if self.broken is not None:
            print(f"FAIL {name}: not run, because '{self.broken}' failed", flush=True)
            self.results.append(False)
            return None
        t0 = time.time()
        try: out = fn()
        except Exception as e:
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            self.results.append(False)
            self.broken = name
            return None
        print(f"ok   {name} ({time.time() - t0:.1f} s)", flush=True)
        self.results.append(True)
        return out


def image_src(img) -> str: return img.evaluate("el => el.src")


def wait_for_new_image(page, img, old_src: str, timeout_s: float = 60):
    "Wait until the widget's <img> shows a new, loaded picture."
    page.wait_for_function("([el, old]) => el.src !== old && el.complete && el.naturalWidth > 0",
                           arg=[img.element_handle(), old_src], timeout=timeout_s * 1000)


def changes_figure(page, img, action, what: str):
    "Run `action` (a person's input) and check that the figure is redrawn with different pixels."
    before_src, before_png = image_src(img), img.screenshot()
    action()
    wait_for_new_image(page, img, before_src)
    page.wait_for_timeout(200)
    if img.screenshot() == before_png: raise AssertionError(f"{what}: the image was re-sent but its pixels did not change")


def browser_steps(page, port: int, token: str, out: Path, screenshots: Path | None) -> list:
    "The checks made in the browser, in order, as (name, function)."
    att = emb = att_img = map_img = sample_img = colour = None  # no browser: the steps are counted as not run
    if page is not None:
        att, emb = page.locator(".mmdistill-attention-explorer"), page.locator(".mmdistill-embedding-explorer")
        att_img = att.locator("img.widget-image")
        map_img, sample_img = emb.locator("img.widget-image").nth(0), emb.locator("img.widget-image").nth(1)
        colour = emb.locator(".widget-dropdown select").first

    def open_notebook():
        page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=90_000)
        page.wait_for_timeout(1000)

    def kernel_idle(timeout_s: float):
        page.wait_for_function("() => /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.textContent || '')",
                               timeout=timeout_s * 1000)

    def run_all():
        kernel_idle(120)  # Run All before the kernel is ready is dropped, not queued
        for attempt in range(2):
            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).first.click()
            try:
                page.wait_for_function("""() => [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]
                                              .some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))""", timeout=30_000)
                break
            except Exception:
                if attempt: raise AssertionError("Run All Cells started no cell, twice")
        page.wait_for_function("""() => {
            const p = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]
                      .map(e => e.textContent.trim());
            return p.length > 0 && p.every(t => /^\\[\\d+\\]:$/.test(t)); }""", timeout=RUN_TIMEOUT_S * 1000)
        errors = [t for t in page.locator(".jp-OutputArea-output").all_inner_texts()
                  if "Traceback" in t or re.search(r"^\w+Error\b", t, re.M)]
        if errors: raise AssertionError("a cell failed:\n" + errors[0][-2000:])

    def rendered(panel, n_images: int):
        def check():
            panel.wait_for(state="visible", timeout=60_000)
            if panel.locator(".widget-slider").count() != 1: raise AssertionError("no slider")
            if panel.locator(".widget-dropdown select").count() < 2: raise AssertionError("missing dropdowns")
            imgs = panel.locator("img.widget-image")
            if imgs.count() != n_images: raise AssertionError(f"{imgs.count()} images, expected {n_images}")
            for i in range(n_images):
                page.wait_for_function("el => el.complete && el.naturalWidth > 200", arg=imgs.nth(i).element_handle(),
                                       timeout=60_000)
        return check

    def slider_step(panel):
        def press():
            panel.locator(".noUi-handle").first.focus()
            page.keyboard.press("ArrowRight")
        return press

    def att_slider():
        changes_figure(page, att_img, slider_step(att), "attention explorer, sample slider")
        readout = att.locator(".widget-readout").first.inner_text().strip()
        if readout != "1": raise AssertionError(f"the slider reads {readout!r} after one step right, expected '1'")

    def shoot():
        dirs = [out] + ([screenshots] if screenshots else [])
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
            att.screenshot(path=str(d / "attention_explorer.png"))
            emb.screenshot(path=str(d / "embedding_explorer.png"))
            for name in ("attention_explorer.png", "embedding_explorer.png"):
                if (d / name).stat().st_size < 10_000: raise AssertionError(f"{d / name} is nearly empty")
        print("     screenshots: " + ", ".join(str(d / n) for d in dirs for n in ("attention_explorer.png", "embedding_explorer.png")))

    return [
        ("JupyterLab opens the notebook", open_notebook),
        ("Run → Run All Cells runs every cell without an error", run_all),
        ("the attention explorer renders: slider, dropdowns and its figure", rendered(att, 1)),
        ("moving the attention explorer's sample slider redraws the figure", att_slider),
        ("choosing a class in the attention explorer redraws the figure",
         lambda: changes_figure(page, att_img, lambda: att.locator(".widget-dropdown select").first.select_option(index=1),
                                "attention explorer, class dropdown")),
        ("the embedding explorer renders: slider, dropdowns, map and sample", rendered(emb, 2)),
        ("colouring the embedding map by subject redraws it",
         lambda: changes_figure(page, map_img, lambda: colour.select_option(label="subject"), "colour by subject")),
        ("colouring it back by label redraws it",
         lambda: changes_figure(page, map_img, lambda: colour.select_option(label="label"), "colour by label")),
        ("moving the embedding explorer's point slider shows another sample",
         lambda: changes_figure(page, sample_img, slider_step(emb), "embedding explorer, point slider")),
        ("screenshots of both explorers are saved", shoot),
    ]


def run(out: Path, screenshots: Path | None) -> list:
    from playwright.sync_api import sync_playwright

    checks = Checks()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mmdistill-browser-"))
    root, home = work / "notebooks", work / "jupyter"
    root.mkdir(); home.mkdir()
    shutil.copy2(NOTEBOOK, root / NOTEBOOK.name)
    port, token = free_port(), secrets.token_hex(16)
    log = open(out / "jupyterlab.log", "w")
    proc = start_lab(root, home, port, token, log)
    try:
        checks.run("JupyterLab starts on 127.0.0.1 with token auth", lambda: wait_for_lab(proc, port, token))
        with sync_playwright() as p:
            ctx = None
            def launch():
                nonlocal ctx
                if not Path(CHROMIUM).exists():
                    raise FileNotFoundError(f"{CHROMIUM} is missing: apt-get install -y chromium (make test-browser does it)")
                ctx = p.chromium.launch_persistent_context(str(work / "chromium-profile"), executable_path=CHROMIUM,
                                                           headless=True, args=CHROMIUM_ARGS,
                                                           viewport={"width": 1500, "height": 1100})
            checks.run("headless Chromium starts (Debian's /usr/bin/chromium, fresh profile)", launch)
            page = (ctx.pages[0] if ctx.pages else ctx.new_page()) if ctx is not None else None
            try:
                for name, step in browser_steps(page, port, token, out, screenshots): checks.run(name, step)
            finally:
                if page is not None and checks.broken is not None:
                    try: page.screenshot(path=str(out / "failure.png"), full_page=True); print(f"     page at the failure: {out / 'failure.png'}")
                    except Exception: pass
                if ctx is not None: ctx.close()
    finally:
        stop_lab(proc)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    if checks.broken is not None: print(f"     JupyterLab's log: {out / 'jupyterlab.log'}")
    return checks.results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "browser", help="screenshots and JupyterLab's log (default: runs/browser)")
    ap.add_argument("--screenshots", type=Path, default=None, help="also save the two screenshots here (e.g. docs/img)")
    a = ap.parse_args()
    start = time.time()
    results = run(a.out, a.screenshots)
    failed = results.count(False)
    print(f"({time.time() - start:.0f} s)")
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
