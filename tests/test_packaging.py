"""What every provider distribution carries, and what a package index shows of it: the sdist and the
wheel built as a release builds them (the wheel from the sdist), checked as an index checks them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email import message_from_string
from email.message import Message
from html.parser import HTMLParser
from importlib.metadata import metadata
from pathlib import Path

import pytest
from readme_renderer.markdown import render

from telzino_provider import __version__

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Build:
    sdist: Path
    wheel: Path
    log: str  # the build backend's output, warnings included

    def wheel_metadata(self) -> Message:
        with zipfile.ZipFile(self.wheel) as wheel:
            (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
            return message_from_string(wheel.read(name).decode())


def uv() -> str:
    """The uv the Makefile uses: on PATH, or the one it bootstraps into ``.uv/``."""
    found = shutil.which("uv") or str(ROOT / ".uv" / "bin" / "uv")
    assert Path(found).exists(), "no uv: `make venv` bootstraps it into .uv/"
    return found


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [uv(), "build", "--out-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sdist,), (wheel,) = list(out.glob("*.tar.gz")), list(out.glob("*.whl"))
    return Build(sdist, wheel, proc.stdout + proc.stderr)


def test_license_file_is_the_apache_2_text_pyproject_declares():
    text = (ROOT / "LICENSE").read_text()
    meta = metadata("airflow-provider-telzino")

    assert meta["License-Expression"] == "Apache-2.0"
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "LICENSE" in (meta.get_all("License-File") or [])


def test_build_has_no_deprecation_and_an_spdx_licence(build: Build):
    """setuptools stops accepting the ``license = {text = ...}`` table after 2027-02-18."""
    assert "SetuptoolsDeprecationWarning" not in build.log, build.log[-3000:]
    meta = build.wheel_metadata()
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]


def test_changelog_has_an_entry_for_this_version():
    assert f"## {__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_project_urls_are_declared():
    urls = metadata("airflow-provider-telzino").get_all("Project-URL") or []
    assert urls and all(", https://" in url for url in urls), urls


def _ci_pythons() -> set[str]:
    match = re.search(r'^CI_PYTHONS="([\d. ]+)"$', (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
    assert match, ".ci/run names the Python versions CI tests in CI_PYTHONS"
    return set(match[1].split())


def test_classifiers_name_exactly_the_pythons_ci_tests(build: Build):
    classifiers = build.wheel_metadata().get_all("Classifier") or []
    pythons = {c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r".* :: Python :: 3\.\d+", c)}

    assert pythons == _ci_pythons()
    assert any(c.startswith("Development Status :: ") for c in classifiers), classifiers
    compatibility = (ROOT / "README.md").read_text().split("## Compatibility", 1)[1].split("\n## ", 1)[0]
    assert f"Python {', '.join(sorted(pythons))}" in compatibility  # the README says the same


def test_sdist_ships_no_tests(build: Build):
    """All of the tests or none: without conftest.py and their folders they cannot run."""
    with tarfile.open(build.sdist) as sdist:
        names = [name.split("/", 1)[1] for name in sdist.getnames() if "/" in name]
    assert not [name for name in names if name.startswith("tests")], names
    assert "LICENSE" in names and "README.md" in names


def test_index_accepts_both_files(build: Build):
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(build.sdist), str(build.wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


class _Links(HTMLParser):
    """Every ``href`` and ``src``, but the anchor the renderer gives each heading to itself."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.heading_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if re.fullmatch(r"h[1-6]", tag):
            self.heading_id = values.get("id")
        if tag == "a" and self.heading_id and values.get("href") == f"#{self.heading_id}":
            return
        self.links += [value or "" for name, value in attrs if name in ("href", "src")]

    def handle_endtag(self, tag: str) -> None:
        if re.fullmatch(r"h[1-6]", tag):
            self.heading_id = None


def test_rendered_long_description_has_only_absolute_links(build: Build):
    """On an index page a relative link (``docs/...``, ``#anchor``) is dead: the page must stand alone."""
    meta = build.wheel_metadata()
    assert meta["Description-Content-Type"].startswith("text/markdown")
    html = render(meta.get_payload(), variant="GFM")
    assert html, "the long description did not render"
    parser = _Links()
    parser.feed(html)
    assert parser.links, "no links at all: did the description render?"
    assert [link for link in parser.links if not link.startswith("https://")] == []
