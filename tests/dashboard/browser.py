"""Headless Chromium for the dashboard's browser tests: Debian's chromium + chromedriver via Selenium.

Selenium is pointed at /usr/bin/chromedriver and /usr/bin/chromium explicitly and
runs with SE_OFFLINE, so Selenium Manager never downloads a browser or driver.
Without them the tests skip with the reason, unless KPIENGINE_REQUIRE_BROWSER=1
(CI), where a missing browser is a failure.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import pytest

CHROMIUM = os.environ.get("KPIENGINE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KPIENGINE_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")


def require_browser() -> None:
    problems = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        problems.append("the selenium package is not installed (pip install -e '.[test]')")
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            problems.append(f"{path} is missing (apt-get install -y {package})")
    if problems:
        reason = "browser tests need headless Chromium: " + "; ".join(problems)
        if os.environ.get("KPIENGINE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (KPIENGINE_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(reason)


class Browser:
    """One Chromium with an empty profile, its console log and its network log."""

    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never reach the internet
        self.profile = tempfile.mkdtemp(prefix="kpi-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(60)

    def open(self, url: str) -> None:
        self.driver.get_log("performance")  # start the network log afresh for this page
        self.driver.get(url)
        self.wait_ready()

    def wait_ready(self, previous: str | None = None, timeout: float = 60) -> str:
        """Wait until the page rendered (again): body[data-ready] set to a new value."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            ready = self.driver.execute_script(
                "return document.body && !document.body.hasAttribute('data-loading') && "
                "document.body.getAttribute('data-ready')")
            if ready and ready != previous:
                return ready
            time.sleep(0.1)
        raise AssertionError(f"the dashboard did not render within {timeout}s; console: {self.console()}")

    def wait_for(self, condition, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while not condition():
            if time.time() > deadline:
                raise AssertionError(f"timed out after {timeout}s; console: {self.console()}")
            time.sleep(0.1)

    def console(self) -> list[dict]:
        return self.driver.get_log("browser")

    def requested_urls(self) -> list[str]:
        """Every network URL requested since the last call, from the DevTools network events.

        Chromium's own chrome:// pages (new tab page) are internal, not network, and are left out.
        """
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                url = message["params"]["request"]["url"]
                if not url.startswith(("chrome://", "chrome-untrusted://", "chrome-extension://", "devtools://")):
                    urls.append(url)
        return urls

    def screenshot(self, path: str) -> None:
        """The whole page, not only the window."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1400, min(max(height, 1000), 8000))
        time.sleep(0.3)
        self.driver.save_screenshot(path)
        self.driver.set_window_size(1400, 1000)

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
