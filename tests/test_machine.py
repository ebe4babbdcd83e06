"""The machine's description: which INT8 kernel family ONNX Runtime uses on a CPU."""

from pathlib import Path

import pytest

from inspector.machine import int8_kernel_of


@pytest.mark.parametrize(("flags", "machine", "family"), [
    ({"sse4_2", "avx", "avx2", "fma"}, "x86_64", "avx2"),                 # AMD Zen 3, Intel Haswell
    ({"avx2", "avx512f", "avx512bw"}, "x86_64", "avx512"),                # Skylake-SP: no VNNI
    ({"avx2", "avx512f", "avx512_vnni"}, "x86_64", "vnni"),               # Cascade Lake, AMD Zen 4
    ({"avx2", "avx_vnni"}, "x86_64", "vnni"),                             # Alder Lake
    ({"avx2", "avx512_vnni", "amx_int8", "amx_tile"}, "x86_64", "vnni"),  # Sapphire Rapids
    ({"avx2"}, "AMD64", "avx2"),                                          # Windows names it so
    ({"sse4_2", "avx"}, "x86_64", "unknown"),                             # none: never runs INT8
    ({"asimd", "asimddp"}, "aarch64", "aarch64"),
    (set(), "", "unknown"),
])
def test_int8_kernel_family_by_cpu_flags(flags, machine, family):
    assert int8_kernel_of(flags, machine) == family


def test_off_linux_the_flags_come_from_numpys_cpuid(monkeypatch):
    from numpy._core._multiarray_umath import __cpu_features__ as features

    from inspector import machine

    monkeypatch.setattr(machine, "Path", lambda _: Path("/nonexistent/cpuinfo"))  # not Linux
    flags = machine.cpu_flags()
    assert ("avx2" in flags) == bool(features.get("AVX2"))
    assert ("avx512_vnni" in flags) == bool(features.get("AVX512VNNI"))

