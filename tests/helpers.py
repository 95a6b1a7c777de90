"""Helpers shared by test modules: run the real `evolve` console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EVOLVE = str(Path(sys.executable).with_name("evolve"))


def run_cli(*args: str, timeout: float = 300, env: dict | None = None, cwd: str | Path | None = None):
    """`evolve ARGS...` as a user runs it; returns the CompletedProcess (text mode)."""
    return subprocess.run([EVOLVE, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)
