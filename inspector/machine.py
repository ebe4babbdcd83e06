"""What machine this runs on, named the way benchmark figures and training reports name it."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# CPU flags whose instructions sum each u8 x s8 product exactly in 32 bits (ONNX Runtime's
# integer kernels for VNNI and AMX).
EXACT_INT8_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def int8_kernel_of(flags: set[str] | frozenset[str], machine: str) -> str:
    """The family of integer kernels ONNX Runtime runs an INT8 graph with on such a CPU.

    The families give different outputs for the same graph: "vnni" (AVX-512 VNNI, AVX-VNNI or
    AMX) sums every u8 x s8 product exactly in 32 bits, so its kernels agree; "avx2" first adds
    pairs of products into 16 bits, which saturate (on magnetic-tile test the default classifier's
    scores moved up to 0.106 from float there, 0.057 on VNNI); "avx512" (AVX-512 without VNNI)
    saturates too, in kernels of its own, so it is judged on its own. Any other CPU is its
    machine name.
    """
    if machine.lower() in ("x86_64", "amd64", "x86", "i686"):
        if flags & EXACT_INT8_FLAGS:
            return "vnni"
        if "avx512bw" in flags:
            return "avx512"
        if "avx2" in flags:
            return "avx2"
    return machine.lower() or "unknown"


@functools.cache
def int8_kernel() -> str:
    """This CPU's INT8 kernel family (int8_kernel_of), from the flags in Linux /proc/cpuinfo."""
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return int8_kernel_of(flags, platform.machine())
