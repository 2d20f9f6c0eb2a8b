"""What a release ships: one version, a license, a changelog that names the version."""

from __future__ import annotations

import tomllib
from pathlib import Path

import dify_bridge

ROOT = Path(__file__).parents[1]


def test_the_version_is_written_once_and_the_package_reads_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"], "the version lives in dify_bridge.__version__"
    assert project["project"]["dynamic"] == ["version"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "dify_bridge.__version__"}


def test_the_license_is_an_spdx_expression_and_its_file_ships() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    (license_file,) = project["license-files"]
    assert (ROOT / license_file).read_text().startswith("MIT License")


def test_the_changelog_has_the_current_version_and_an_unreleased_section() -> None:
    changelog = (ROOT / "docs" / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert f"## [{dify_bridge.__version__}] - " in changelog
    assert f"[{dify_bridge.__version__}]: " in changelog, "every heading has its link"
