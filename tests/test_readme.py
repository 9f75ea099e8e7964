"The README's quick tour runs as written, in a scratch folder on one thread."
import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_tour() -> str:
    "The first ```python block of the README's '## A quick tour' section."
    text = README.read_text(encoding="utf-8")
    assert "\n## A quick tour\n" in text, "README.md has no '## A quick tour' section"
    section = text.split("\n## A quick tour\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's quick tour has no ```python block"
    return blocks[0]


def test_quick_tour_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ns = {}
        exec(compile(quick_tour(), "README.md (quick tour)", "exec"), ns)
    finally:
        torch.set_num_threads(threads)
    gate, n = ns["gate"], len(ns["test"])
    assert gate["n"] == n == 3162
    hits32, hits8 = round(gate["fp32"] * n), round(gate["int8"] * n)
    assert gate["accepted"] == ((hits32 - hits8) / n <= 0.01), gate        # the verdict follows the rule it states
    assert len(ns["t"].history) == len(ns["d"].history) == 2
    assert sorted(p.name for p in (tmp_path / "runs" / "teacher").glob("*.safetensors")) == ["best.safetensors", "latest.safetensors"]
    assert ns["int8"]["int8_size_bytes"] < ns["fp32"]["size_bytes"] / 2
