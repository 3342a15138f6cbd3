"""Running the tools leaves nothing behind: no temp Airflow home after pytest, no stray venv from a
mistyped matrix argument."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_test_run_removes_its_airflow_home(tmp_path: Path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("AIRFLOW_HOME", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_timeutil.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert not list(tmp_path.glob("telzino-airflow-home-*")), sorted(p.name for p in tmp_path.iterdir())


def _matrix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, ".ci/matrix.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_matrix_help_prints_usage_and_creates_nothing():
    before = set(os.listdir(ROOT))

    shown = _matrix("--help")
    wrong = _matrix("--stream", "latest")

    assert shown.returncode == 0 and "Usage: python3 .ci/matrix.py" in shown.stdout
    assert wrong.returncode == 2 and "not an Airflow version (X.Y.Z): latest" in wrong.stderr
    assert set(os.listdir(ROOT)) == before
