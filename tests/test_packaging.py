"""What every provider distribution carries: its licence text, a changelog, project URLs."""

from __future__ import annotations

from importlib.metadata import metadata
from pathlib import Path

from telzino_provider import __version__

ROOT = Path(__file__).resolve().parent.parent


def test_license_file_is_the_apache_2_text_pyproject_declares():
    text = (ROOT / "LICENSE").read_text()
    meta = metadata("airflow-provider-telzino")

    assert meta["License"] == "Apache-2.0"
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "LICENSE" in (meta.get_all("License-File") or [])


def test_changelog_has_an_entry_for_this_version():
    assert f"## {__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_project_urls_are_declared():
    urls = metadata("airflow-provider-telzino").get_all("Project-URL") or []
    assert urls and all(", https://" in url for url in urls), urls
