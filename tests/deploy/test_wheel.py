"""The wheel is complete: what a `pip install` gets runs without a checkout beside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from syncd.sandbox import specs
from tests.support import ROOT


def test_wheel_carries_the_specs_templates_and_migrations(tmp_path: Path) -> None:
    """`pip install .` gets everything the sandboxes and the store need, not only a checkout."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("syncd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in specs.NAMES:
        assert f"syncd/sandbox/specs/{name}.gz" in names
    assert "syncd/sandbox/specs/SOURCES.md" in names
    assert "syncd/store/alembic.ini" in names
    assert any(n.startswith("syncd/sdk/default_templates/jira/") for n in names)
    assert any(n.startswith("syncd/store/migrations/versions/") for n in names)
