"""Building syncd prints no deprecation warning (issue 20, point 13): the first thing a packager sees."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support import ROOT


def test_project_license_is_an_spdx_expression() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in project["build-system"]["requires"]  # the first to read an SPDX string


def test_building_the_wheel_prints_no_deprecation_warning(tmp_path: Path) -> None:
    # -v shows what the build backend prints, which `pip install .` shows a packager too
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                             "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "deprecat" not in output.lower(), [ln for ln in output.splitlines() if "eprecat" in ln]
    assert list(tmp_path.glob("syncd-*.whl"))
