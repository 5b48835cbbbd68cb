"""The benchmark harness runs end to end in its quick mode (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks import BENCHMARKS


def test_benchmarks_quick_mode_runs():
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    for name in BENCHMARKS:  # every report opens with its title, "name: ..."
        assert f"{name}:" in r.stdout, name
    assert "summary" in r.stdout
