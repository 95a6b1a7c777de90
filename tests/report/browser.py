"""Headless Chromium for the report tests, driven through chromedriver (selenium).

Chromium runs with networking features off and a fresh profile, and with the performance log on: the
DevTools Network events it records are how the tests prove the page asked the network for nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
INSTALL = "apt-get install chromium chromium-driver"


def _find(*names: str) -> str | None:
    for n in names:
        found = shutil.which(n)
        if found:
            return found
    return None


def require_chromium() -> tuple[str, str]:
    """(chromium, chromedriver). Missing: a failure under CI (the browser test must run there), else a skip."""
    chromium = _find("chromium", "chromium-browser", "google-chrome")
    driver = _find("chromedriver")
    missing = [n for n, p in (("chromium", chromium), ("chromedriver", driver)) if p is None]
    if missing:
        message = f"{' and '.join(missing)} not found: {INSTALL}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[dev]'")
    assert chromium and driver
    return chromium, driver


@contextmanager
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = require_chromium()
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not go looking for drivers online
    profile = tempfile.mkdtemp(prefix="evolve-chromium-")
    opts = Options()
    opts.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver: Any, document: str) -> list[str]:
    """Every URL that `document` (and the document's own load) asked for since the last call, from the
    DevTools Network.requestWillBeSent events. Other documents (the browser's own new-tab page, which
    may still be loading its chrome:// resources) are not the report's doing."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent" and message["params"].get("documentURL") == document:
            urls.append(message["params"]["request"]["url"])
    return urls


def file_url(path: Path) -> str:
    return path.resolve().as_uri()
