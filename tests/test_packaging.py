"""`pip install -e .` prints no setuptools warnings: the metadata is in its current form."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_pyproject_applies_without_deprecation_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = apply_configuration(Distribution(), PYPROJECT)
    assert dist.metadata.license_expression == "Apache-2.0"


def test_editable_install_is_a_plain_path_entry() -> None:
    # Without package-dir, setuptools installs an import hook and warns about folders named
    # like the package ("Editable installation ... may take precedence during imports").
    config = tomllib.loads(PYPROJECT.read_text())
    assert config["tool"]["setuptools"]["package-dir"] == {"": "."}
