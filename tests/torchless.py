"""Run a Python snippet in a fresh interpreter where torch cannot be imported (the lean install)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_BLOCK_TORCH = textwrap.dedent("""
    import sys, importlib.abc
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith(("torch.", "torchvision")):
                raise ImportError("torch is blocked in this test")
    sys.meta_path.insert(0, Block())
""")


def run_without_torch(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The snippet (dedented) after the blocker; its stdout/stderr captured as text."""
    script = _BLOCK_TORCH + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=timeout)
