"""The demo's firmware called by an outside program: `python tests/firmware/outside_harness.py runs/demo`.

Compiles check_firmware.py's OUTSIDE_C (a main.c that includes only student.h and links student.c, as firmware would)
against RUN/firmware, feeds it the HAPT test windows (normalised as the demo's student takes them) and labels as raw files,
and prints its accuracy beside the figures the demo's report.json gives for the C build and the INT8 ONNX file."""
import json, subprocess, sys, tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_firmware import OUTSIDE_C  # noqa: E402


def main(run: Path) -> int:
    from mmdistill.datasets import load_hapt
    from mmdistill.firmware import C_FLAGS
    fw, report = run / "firmware", json.loads((run / "report.json").read_text())
    if not (fw / "student.h").is_file(): sys.exit(f"{fw} has no student.h: give the folder of a finished mmdistill demo run")
    test = load_hapt("test")
    with tempfile.TemporaryDirectory(prefix="mmdistill-outside-") as tmp:
        tmp = Path(tmp)
        (tmp / "main.c").write_text(OUTSIDE_C)
        subprocess.run(["gcc", *C_FLAGS, "-I", str(fw), str(tmp / "main.c"), str(fw / "student.c"), "-o", str(tmp / "outside")], check=True)
        test.signals["acc"].numpy().astype("<f4").tofile(tmp / "windows.f32")
        np.asarray(test.labels).astype("<i4").tofile(tmp / "labels.i32")
        out = subprocess.run([str(tmp / "outside"), str(tmp / "windows.f32"), str(tmp / "labels.i32")], check=True, capture_output=True, text=True)
    right, n = map(int, out.stdout.split())
    c, onnx = report["gates"]["c"], report["gates"]["onnx"]
    print(f"outside harness (gcc {' '.join(C_FLAGS)}, main.c + student.c): {right}/{n} = {100 * right / n:.2f}%")
    print(f"report.json: C build {100 * c['accuracy']:.2f}% (n {c['n']}), INT8 ONNX with onnxruntime {100 * onnx['accuracy']:.2f}%")
    return 0 if abs(right / n - c["accuracy"]) < 1e-12 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/demo")))
