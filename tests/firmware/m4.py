"""Cross-compile the student's C for a Cortex-M4 and run it under QEMU's MPS2 AN386 board (helpers of check_firmware.py).

`build_elf` links the generated student.c with the start-up, semihosting harness and linker script that
mmdistill.firmware.link_cortex_m4 writes (the demo's report links the same build for its flash and RAM figures);
`run_qemu` feeds windows through semihosting files and returns the outputs and the stack's high-water mark;
`elf_sizes` reads `arm-none-eabi-size -A`: flash = .isr_vector + .text + .rodata + .data, RAM = .data + .bss + .stack."""
import re, shutil, subprocess
from pathlib import Path

import numpy as np

from mmdistill.firmware import elf_sizes as _elf_sizes, link_cortex_m4

CPU = ["-mcpu=cortex-m4", "-mthumb"]
CFLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections", "-ffreestanding"]
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm")


def missing_tools() -> list:
    return [t for t in TOOLS if shutil.which(t) is None]


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode: raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def build_elf(c_dir, work, float_free: bool = False, stack_size: int = 1024) -> Path:
    "The firmware ELF: mmdistill.firmware.link_cortex_m4 (start-up, semihosting harness, linker script and the generated student; hard-float ABI)."
    return link_cortex_m4(c_dir, work, float_free=float_free, stack_size=stack_size)


def elf_sizes(elf) -> dict:
    "Section sizes of the linked ELF and the flash and RAM they add up to (mmdistill.firmware.elf_sizes, the demo's report uses the same)."
    return _elf_sizes(elf)


def soft_float_calls(c_dir) -> list:
    "Floating-point helper functions (__aeabi_f*, __aeabi_d*) that student.c needs when compiled without an FPU."
    obj = Path(c_dir) / "student_soft.o"
    _run(["arm-none-eabi-gcc", *CPU, "-mfloat-abi=soft", *CFLAGS, "-c", Path(c_dir) / "student.c", "-o", obj])
    undefined = _run(["arm-none-eabi-nm", "-u", obj]).stdout.split()
    return [s for s in undefined if re.match(r"__aeabi_[fd]|__(add|sub|mul|div)[sd]f3|__float", s)]


def run_qemu(elf, windows: np.ndarray, out_dtype, out_len: int, work, timeout: int = 300) -> dict:
    "Run the firmware under `qemu-system-arm -M mps2-an386` on `windows` (semihosting in.bin -> out.bin)."
    work = Path(work)
    (work / "in.bin").write_bytes(np.ascontiguousarray(windows).tobytes())
    if (work / "out.bin").exists(): (work / "out.bin").unlink()
    cmd = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel", elf]
    r = _run(cmd, cwd=work, timeout=timeout)
    console = r.stdout + r.stderr           # QEMU writes the semihosting console to stderr
    stats = {k: int(v) for k, v in re.findall(r"^(\w+) (\d+)$", console, re.M)}
    y = np.fromfile(work / "out.bin", out_dtype).reshape(-1, out_len)
    return {"outputs": y, "console": console, **stats}
