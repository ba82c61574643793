"""Headless Chromium through Selenium: Debian's chromium and chromedriver, nothing downloaded."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import REQUIRE_POSTGRES

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
SESSION_COOKIE = "ledger_session"
DESKTOP = (1280, 900)
PHONE = (360, 780)


def start_chromium() -> webdriver.Chrome:
    """Headless Chromium; fails (in CI) or skips (elsewhere) when the packages are missing."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        message = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
        if REQUIRE_POSTGRES or os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a browser
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@dataclass
class Browser:
    """One Chromium for a test module, and the console's base URL."""

    driver: webdriver.Chrome
    base_url: str
    shots: list[str] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)

    def open(self, path: str) -> None:
        """Go to a console path."""
        self.driver.get(self.base_url + path)

    @property
    def path(self) -> str:
        """The current page's path and query."""
        return self.driver.current_url.removeprefix(self.base_url)

    def find(self, css: str) -> WebElement:
        """The one element matching a CSS selector."""
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        """Every element matching a CSS selector."""
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def submit(self, target: str | WebElement, *keys: str) -> None:
        """Click a button (or type keys into an element) and wait for the next page to load."""
        page = self.find("html")
        for attempt in range(3):
            # A selector is found again when the page was still settling (a node replaced).
            element = self.find(target) if isinstance(target, str) else target
            try:
                if keys:
                    element.send_keys(*keys)
                else:
                    element.click()
                break
            except WebDriverException:
                if expected_conditions.staleness_of(page)(self.driver):
                    break  # the click went through before the error
                if attempt == 2 or not isinstance(target, str):
                    raise
                time.sleep(0.2)
        wait = WebDriverWait(self.driver, 30)
        wait.until(expected_conditions.staleness_of(page))
        # The old page is gone once navigation starts: wait for the new one to finish loading.
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def text(self) -> str:
        """The page's visible text."""
        return self.find("body").text

    def fill(self, values: dict[str, str]) -> None:
        """Type into inputs by id (clearing them first)."""
        for name, value in values.items():
            element = self.find(f'[id="{name}"]')
            element.clear()
            element.send_keys(value)

    def sign_in(self, email: str, password: str) -> None:
        """Sign out whoever is signed in, then sign in (again with the session the form gave
        this email before, while it is valid: password checks are slow on purpose)."""
        self.driver.delete_all_cookies()
        self.open("/ui/login")
        if email in self.sessions:
            cookie = {"name": SESSION_COOKIE, "value": self.sessions[email], "path": "/"}
            self.driver.add_cookie(cookie)
            self.open("/ui")
            if "/ui/login" not in self.path:
                return
            self.driver.delete_all_cookies()
            self.open("/ui/login")
        self.fill({"email": email, "password": password})
        self.submit("main button[type=submit]")
        assert "/ui/login" not in self.path, self.text()
        session = self.driver.get_cookie(SESSION_COOKIE)
        assert session is not None
        self.sessions[email] = session["value"]

    def cookies(self) -> dict[str, str]:
        """The browser's cookies, for fetching a download with httpx."""
        return {c["name"]: c["value"] for c in self.driver.get_cookies()}

    def fetch(self, path: str) -> httpx.Response:
        """GET a console path with the browser's session (downloads)."""
        return httpx.get(self.base_url + path, cookies=self.cookies(), timeout=30)

    def screenshot(self, name: str) -> None:
        """The current page at desktop width and at 360 px, to var/screenshots (git-ignored)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for label, (width, height) in (("desktop", DESKTOP), ("360", PHONE)):
            self.driver.set_window_size(width, height)
            full = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(width, min(int(full) + 120, 4000))
            self.driver.save_screenshot(str(SCREENSHOTS / f"{name}-{label}.png"))
        self.driver.set_window_size(*DESKTOP)
        self.shots.append(name)

    def overflows_at_phone_width(self) -> int:
        """How many pixels the page is wider than a 360 px screen (0: it fits)."""
        self.driver.set_window_size(*PHONE)
        try:
            width = self.driver.execute_script("return document.documentElement.scrollWidth")
            inner = self.driver.execute_script("return window.innerWidth")
            return max(0, int(width) - int(inner))
        finally:
            self.driver.set_window_size(*DESKTOP)
