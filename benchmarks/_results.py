"""Shared helpers of the benchmark scripts: the machine description, and `benchmarks/results.md`, one section per script.

Each script regenerates only its own section, between `<!-- section:NAME -->` and `<!-- /section:NAME -->`; the other
sections stay as they are. Sections are kept in the order of `SECTIONS`, whichever script ran last.
"""
from __future__ import annotations
import importlib.metadata, os, platform, re, shlex, sys, time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.md"
SECTIONS = ("supcon", "sampler", "inference", "distill", "distill_light", "end_to_end", "optimizer")
HEADER = ("# mmdistill benchmarks\n\n"
          "Written by the scripts in `benchmarks/` (`make bench` runs them all); never edited by hand. Every section names the "
          "command that produced it, the machine and the date; a row's own command regenerates just that row.\n")


def cpu_model() -> str:
    "The CPU model from /proc/cpuinfo (Linux), else what `platform` knows."
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def version(dist: str) -> str | None:
    try: return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError: return None


def machine(threads: int | None = None, packages=("torch", "onnxruntime", "pytorch-metric-learning")) -> str:
    "CPU model, cores, torch threads, Python and library versions; no host names."
    import torch
    parts = [f"{cpu_model()}", f"{os.cpu_count()} cores", f"torch threads {threads if threads is not None else torch.get_num_threads()}"]
    if torch.cuda.is_available(): parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    parts.append(f"Python {platform.python_version()}")
    for p in ("mmdistill", *packages):
        v = version(p)
        if v: parts.append(f"{p} {v}")
    return ", ".join(parts)


def today() -> str: return time.strftime("%Y-%m-%d")


def command(script: str, argv: list[str] | None = None) -> str:
    "The command line that ran `script`, as a user would type it from the repository root."
    argv = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"benchmarks/{script}", *map(shlex.quote, argv)])


def load_busy() -> str:
    "The 1-minute load average against the core count, so a reader can tell a busy machine."
    try: return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at start"
    except OSError: return "load average unknown"


def write_section(name: str, body: str, path: Path | str | None = None) -> Path:
    "Replace (or add) the section `name` of the results file with `body` (Markdown, starting with its `##` title)."
    if name not in SECTIONS: raise ValueError(f"unknown section {name!r}; sections are {SECTIONS}")
    path = Path(path) if path is not None else RESULTS
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    found = dict(re.findall(r"<!-- section:(\w+) -->\n(.*?)<!-- /section:\1 -->\n", text, flags=re.S))
    found[name] = body.rstrip("\n") + "\n"
    head = text.split("<!-- section:", 1)[0].rstrip("\n") + "\n"
    order = list(SECTIONS) + sorted(k for k in found if k not in SECTIONS)
    parts = [head] + [f"\n<!-- section:{k} -->\n{found[k]}<!-- /section:{k} -->\n" for k in order if k in found]
    tmp = path.with_suffix(".md.tmp-write")
    tmp.write_text("".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path


def table(header: list[str], rows: list[list]) -> str:
    "A Markdown table."
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)
