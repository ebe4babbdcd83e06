"""What machine this runs on, named the way benchmark figures and training reports name it."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# CPU flags whose instructions sum each u8 x s8 product exactly in 32 bits (ONNX Runtime's
# integer kernels for VNNI and AMX).
EXACT_INT8_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
UNKNOWN_FAMILY = "unknown"  # an INT8 kernel family never judged for: the float graph runs
# numpy's own CPUID reading (any OS), by the names Linux gives the flags; it knows no AVX-VNNI or
# AMX, so off Linux those CPUs read as their AVX-512 or AVX2 family.
NUMPY_FLAGS = {"AVX2": "avx2", "AVX512BW": "avx512bw", "AVX512VNNI": "avx512_vnni"}


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
    saturates too, in kernels of its own, so it is judged on its own. An x86 CPU with none of
    these is "unknown" (no INT8 graph runs there); any other CPU is its machine name.
    """
    if machine.lower() in ("x86_64", "amd64", "x86", "i686"):
        if flags & EXACT_INT8_FLAGS:
            return "vnni"
        if "avx512bw" in flags:
            return "avx512"
        if "avx2" in flags:
            return "avx2"
        return UNKNOWN_FAMILY
    return machine.lower() or UNKNOWN_FAMILY


def cpu_flags() -> set[str]:
    """This CPU's feature flags as Linux names them: /proc/cpuinfo, else numpy's CPUID reading."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:
        return set()
    return {flag for key, flag in NUMPY_FLAGS.items() if features.get(key)}


@functools.cache
def int8_kernel() -> str:
    """This CPU's INT8 kernel family (int8_kernel_of), read once."""
    return int8_kernel_of(cpu_flags(), platform.machine())
