#!/usr/bin/env python3
"""Run ``make test AIRFLOW_VERSION=X`` for each version and print one result line per version.

Usage: python3 .ci/matrix.py [--stream] VERSION [VERSION ...]     (e.g. 2.10.5 3.3.2; -h: this text)

Each version's venv is built (or refreshed) by ``make venv`` first, so the install and the suite
are timed apart. pytest's own output goes to ``.matrix/<version>.log`` (and to stdout with
``--stream``); the counts come from its JUnit XML report. The exit status is 0 only if every
version installed, collected at least one test and passed: pytest's exit code 5 ("no tests
collected") counts as a failure, not a pass. Standard library only: it runs before any venv exists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".matrix"
NO_TESTS_COLLECTED = 5


@dataclass
class Result:
    version: str
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    install_s: float = 0.0
    suite_s: float = 0.0
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem and not self.failed and not self.errors and self.passed > 0

    def line(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        counts = f"{self.passed} passed, {self.failed + self.errors} failed, {self.skipped} skipped"
        times = f"install {self.install_s:.1f}s, suite {self.suite_s:.1f}s"
        why = f" -- {self.problem}" if self.problem else ""
        return f"airflow {self.version:<8} {verdict}  {counts}  ({times}){why}"


def _make(target: str, version: str, log: Path, stream: bool, **env: str) -> tuple[int, float]:
    """``make TARGET AIRFLOW_VERSION=version``, output to ``log`` (and to stdout with ``stream``)."""
    start = time.monotonic()
    with log.open("a") as fh:
        fh.write(f"\n$ make {target} AIRFLOW_VERSION={version}\n")
        fh.flush()
        proc = subprocess.Popen(
            ["make", "--no-print-directory", target, f"AIRFLOW_VERSION={version}"],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            if stream:
                sys.stdout.write(line)
                sys.stdout.flush()
        rc = proc.wait()
    return rc, time.monotonic() - start


def _counts(result: Result, junit: Path) -> None:
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    result.failed = sum(int(s.get("failures", 0)) for s in suites)
    result.errors = sum(int(s.get("errors", 0)) for s in suites)
    result.skipped = sum(int(s.get("skipped", 0)) for s in suites)
    result.passed = total - result.failed - result.errors - result.skipped


def _tail(log: Path, lines: int = 25) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def run_version(version: str, stream: bool) -> Result:
    result = Result(version)
    log = OUT / f"{version}.log"
    junit = OUT / f"{version}.xml"
    log.write_text("")
    junit.unlink(missing_ok=True)

    rc, result.install_s = _make("venv", version, log, stream)
    if rc != 0:
        result.problem = f"install failed (exit {rc}), see {log.relative_to(ROOT)}"
        return result

    extra = os.environ.get("PYTEST_ARGS", "")
    rc, result.suite_s = _make(
        "test", version, log, stream, PYTEST_ARGS=f"{extra} --junitxml={junit}".strip()
    )
    if rc != 0:
        # make exits 2 whatever failed; its "*** [Makefile:N: test] Error R" line has pytest's code.
        codes = re.findall(r"\*\*\* \[[^\]]*\btest\] Error (\d+)", log.read_text(errors="replace"))
        rc = int(codes[-1]) if codes else rc
    if junit.exists():
        _counts(result, junit)
    if rc == NO_TESTS_COLLECTED or (junit.exists() and not result.passed + result.failed + result.errors):
        result.problem = f"pytest collected no tests (exit {rc})"
    elif rc != 0 and not junit.exists():
        result.problem = f"pytest did not run (exit {rc}), see {log.relative_to(ROOT)}"
    elif rc != 0 and not (result.failed or result.errors):
        result.problem = f"pytest exited {rc}, see {log.relative_to(ROOT)}"
    return result


VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def main(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        print(__doc__)
        return 0
    stream = "--stream" in argv
    versions = [arg for arg in argv if arg != "--stream"]
    wrong = [arg for arg in versions if not VERSION.match(arg)]
    if not versions or wrong:
        # Checked before anything is created: `make venv AIRFLOW_VERSION=--x` would make `.venv---x`.
        if wrong:
            print(f"not an Airflow version (X.Y.Z): {' '.join(wrong)}", file=sys.stderr)
        print(__doc__, file=sys.stderr)
        return 2
    OUT.mkdir(exist_ok=True)
    (OUT / ".gitignore").write_text("*\n")  # logs and reports only: never committed
    results = []
    for version in versions:
        print(f"--- airflow {version}: installing and running the suite ...", flush=True)
        result = run_version(version, stream)
        results.append(result)
        if not result.ok and not stream:
            # Show why right away, so a CI log is readable without the .matrix/ files.
            print(_tail(OUT / f"{version}.log"), flush=True)
        print(result.line(), flush=True)

    print("\n=== test matrix ===")
    for result in results:
        print(result.line())
    passed = sum(r.passed for r in results)
    # A version that broke without a failing test (install, collection) still counts as one failure.
    failed = sum(r.failed + r.errors or (0 if r.ok else 1) for r in results)
    skipped = sum(r.skipped for r in results)
    broken = [r.version for r in results if not r.ok]
    if broken:
        print(f"versions failing: {' '.join(broken)}")
    # One closing line in the 'N passed, N failed' form.
    print(f"matrix: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
