"""Headless Chromium for browser tests: Debian's ``chromium`` + ``chromium-driver`` via selenium.

Use the ``chrome`` fixture (import it into the test module) and mark tests
``@pytest.mark.browser``. Nothing here touches the network: the browser runs with background
networking, component updates, sync and QUIC off, and pages are opened from ``file://``.
``.ci/run`` installs the two Debian packages when they are missing; selenium comes with the
``test`` extra.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers crashes tabs
    "--window-size=1280,1100",
    "--force-device-scale-factor=1",
]


def make_driver(user_data_dir: str | Path):
    """Start headless Chromium with a fresh profile; the caller quits it."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        raise RuntimeError(
            f"Browser tests need {missing}: install Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver; .ci/run does this in CI)."
        )
    # Never let selenium-manager look for (or download) a driver: we name both binaries.
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


@pytest.fixture(scope="module")
def chrome():
    """A headless Chromium WebDriver shared by one test module."""
    profile = tempfile.mkdtemp(prefix="nnviz-chromium-")
    driver = make_driver(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_file(driver, path: str | Path) -> None:
    """Load a local file and clear the console log collected so far."""
    driver.get(Path(path).resolve().as_uri())
    driver.get_log("browser")


def console_errors(driver) -> list[dict]:
    """Console entries at error level (JS exceptions, failed resource loads) since last read."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot_png(driver) -> bytes:
    """PNG bytes of the visible page."""
    return driver.get_screenshot_as_png()


def canvas_data_url(driver, element_id: str) -> str:
    """The pixels of a ``<canvas>`` as a PNG data URL (compare two to see a change)."""
    return driver.execute_script(
        "return document.getElementById(arguments[0]).toDataURL('image/png');", element_id
    )
