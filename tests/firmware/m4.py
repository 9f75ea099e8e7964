"""Cross-compile the student's C for a Cortex-M4 and run it under QEMU's MPS2 AN386 board (helpers of check_firmware.py).

`build_elf` links startup.c, mps2_an386.ld, m4_main.c and the generated student.c with arm-none-eabi-gcc;
`run_qemu` feeds windows through semihosting files and returns the outputs and the stack's high-water mark;
`elf_sizes` reads `arm-none-eabi-size -A`: flash = .isr_vector + .text + .rodata + .data, RAM = .data + .bss + .stack."""
import re, shutil, subprocess
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CPU = ["-mcpu=cortex-m4", "-mthumb"]
HARD_FLOAT = ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
CFLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections", "-ffreestanding"]
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm")


def missing_tools() -> list:
    return [t for t in TOOLS if shutil.which(t) is None]


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode: raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


def build_elf(c_dir, work, float_free: bool = False, stack_size: int = 1024) -> Path:
    "The firmware ELF: start-up, harness and the generated student (hard-float ABI; the float-free build reads int8 windows)."
    c_dir, work = Path(c_dir), Path(work)
    work.mkdir(parents=True, exist_ok=True)
    flags = CPU + HARD_FLOAT + CFLAGS + (["-DMMDISTILL_FLOAT_FREE"] if float_free else [])
    inc = ["-I", c_dir, "-I", HERE]
    objs = []
    for src, extra in ((HERE / "startup.c", ["-fno-tree-loop-distribute-patterns"]), (c_dir / "student.c", []), (HERE / "m4_main.c", [])):
        obj = work / (src.stem + ".o")
        _run(["arm-none-eabi-gcc", *flags, *extra, *inc, "-c", src, "-o", obj])
        objs.append(obj)
    elf = work / "firmware.elf"
    _run(["arm-none-eabi-gcc", *flags, "-nostdlib", "-nostartfiles", "-T", HERE / "mps2_an386.ld",
          f"-Wl,--defsym=STACK_SIZE={stack_size}", "-Wl,--gc-sections", *objs, "-lgcc", "-o", elf])
    return elf


def elf_sizes(elf) -> dict:
    "Section sizes of the linked ELF and the flash and RAM they add up to."
    out = _run(["arm-none-eabi-size", "-A", elf]).stdout
    sec = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\.\S+)\s+(\d+)\s+\d+", out, re.M)}
    flash = sum(sec.get(s, 0) for s in (".isr_vector", ".text", ".rodata", ".ARM.exidx", ".data"))
    ram = sum(sec.get(s, 0) for s in (".data", ".bss", ".stack"))
    return {"sections": sec, "flash_bytes": flash, "ram_bytes": ram, "size_A": out}


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
