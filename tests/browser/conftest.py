"""Everything in tests/browser is marked `browser`: headless Chromium drives the real console.

They need Debian's `chromium` and `chromium-driver` (and selenium, in the test extras); without
them they skip, except in CI, where .ci/run installs both and sets SYNCD_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)
