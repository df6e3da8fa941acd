"""Headless Chromium (Debian's `chromium` + `chromium-driver`) through selenium, and a PNG check.

Without the browser the test is skipped, or fails when SYNCD_REQUIRE_BROWSER is set (CI), the way
tests/support/postgres.py treats a missing PostgreSQL. Nothing is downloaded: selenium is given the
system's chromium and chromedriver, so its driver manager never runs.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from typing import Any

import pytest

CHROMIUM = ("chromium", "chromium-browser")
DRIVER = "chromedriver"


def chromium_paths() -> tuple[str, str] | None:
    browser = next((p for p in map(shutil.which, CHROMIUM) if p), None)
    driver = shutil.which(DRIVER)
    return (browser, driver) if browser and driver else None


def chromium(width: int = 1280, height: int = 1000) -> Any:
    """A headless Chromium driven by selenium; skip (or fail in CI) when it is not installed."""
    paths = chromium_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        paths = None
    if paths is None:
        if os.environ.get("SYNCD_REQUIRE_BROWSER"):
            pytest.fail("SYNCD_REQUIRE_BROWSER is set but chromium, chromium-driver or selenium is missing")
        pytest.skip("no chromium + chromium-driver (apt-get install chromium chromium-driver); "
                    "CI installs them")
    browser, driver = paths
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--force-device-scale-factor=1", "--lang=en-US"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def png_pixels(data: bytes, rows: int | None = None) -> tuple[int, int, list[bytes]]:
    """(width, height, the first `rows` rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format: depth {depth}, colour type {colour}"
    bpp = 4 if colour == 6 else 3
    raw, stride = zlib.decompress(idat), width * bpp
    out, prev = [], bytearray(stride)
    for y in range(min(height, rows or height)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append(bytes(line))
        prev = line
    return width, height, out


def distinct_colours(data: bytes, rows: int = 400) -> int:
    """How many RGB colours the top `rows` rows of a screenshot hold (a blank page has one or two)."""
    width, _, lines = png_pixels(data, rows)
    bpp = len(lines[0]) // width if lines else 3
    return len({line[i:i + 3] for line in lines for i in range(0, len(line), bpp * 4)})


def texts(driver: Any, by: str, value: str) -> list[str]:
    """The text of every element found now; none while a page is still loading or being replaced
    (an element read as the next page arrives is stale), so that a bounded wait simply asks again."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return [element.text for element in driver.find_elements(by, value)]
    except StaleElementReferenceException:
        return []
