"""Headless Chromium (Debian's chromium + chromium-driver) under Selenium, for the console tests:
finding the browser, full-page screenshots at a given width, the browser's console log."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not any(shutil.which(b) for b in CHROMIUM):
        return "no chromium binary on PATH (Debian: apt-get install chromium chromium-driver; scripts/test does it where apt-get exists)"
    if not any(shutil.which(d) for d in DRIVER):
        return "no chromedriver on PATH (Debian: apt-get install chromium-driver)"
    return None


def start_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(b) for b in CHROMIUM if shutil.which(b))
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                "--disable-extensions", "--no-first-run", "--disable-background-networking", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(next(shutil.which(d) for d in DRIVER if shutil.which(d))))
    driver.set_page_load_timeout(30)
    return driver


def screenshot(driver, folder: Path, name: str, widths=(1280, 390)) -> list[Path]:
    """The whole page (not just the viewport) at each width, as a phone or a desktop would lay it out."""
    paths = []
    for width in widths:
        mobile = width < 600
        metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        _settle(driver)  # charts redraw at their new width
        height = min(6000, int(driver.execute_script("return document.documentElement.scrollHeight")))
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": max(600, height)})
        _settle(driver)
        path = folder / f"{name}-{width}.png"
        driver.save_screenshot(str(path))
        paths.append(path)
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return paths


def _settle(driver) -> None:
    """Two animation frames: layout, resize observers and the redraws they cause have run."""
    driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done()))")


def console_errors(driver, allow: tuple[str, ...] = ()) -> list[str]:
    """Errors the page logged since the last call (CSP violations, exceptions, failed loads), minus
    messages containing one of `allow`."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not any(a in e["message"] for a in allow)]
