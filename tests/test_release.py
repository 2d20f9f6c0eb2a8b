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


def test_the_constraints_pin_every_dependency_within_its_range() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [
        Requirement(text)
        for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    ]
    pins: dict[str, str] = {}
    for line in (ROOT / "docs" / "deploy" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version
    for requirement in wanted:
        pinned = pins.get(canonicalize_name(requirement.name))
        assert pinned is not None, f"{requirement.name} is not pinned"
        assert requirement.specifier.contains(pinned), (
            f"{requirement.name}=={pinned} vs {requirement}"
        )
