"""Open reports in headless Chromium (Debian's chromium + chromium-driver, through selenium):
console messages, the requests the page made, and screenshots."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def _binaries() -> tuple[str, str] | None:
    browser = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


class Browser:
    """One headless Chromium with a fresh profile; ``open`` loads a report from disk."""

    def __init__(self, binary: str, driver: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.TemporaryDirectory()
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile.name}")
        options.add_argument("--window-size=1280,900")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(driver))

    def open(self, path: Path, width: int = 1280, height: int = 900) -> dict[str, list[Any]]:
        """Load ``path``; returns the console errors and the non-local requests it made."""
        self.driver.set_window_size(width, height)
        self.driver.get("about:blank")
        self.driver.get_log("browser")  # reading a log empties it
        self.driver.get_log("performance")
        self.driver.get(Path(path).resolve().as_uri())
        self.driver.execute_script("return document.readyState")
        return self.messages()

    def messages(self) -> dict[str, list[Any]]:
        errors = [m for m in self.driver.get_log("browser") if m["level"] in ("SEVERE", "WARNING")]
        requests = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                url = message["params"]["request"]["url"]
                if not url.startswith(LOCAL_SCHEMES):
                    requests.append(url)
        return {"errors": errors, "requests": requests}

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def screenshot(self, out: Path | None = None, full: bool = False) -> Any:
        """The window as a PIL image (``full``: the window grown to the page's height)."""
        from PIL import Image

        if full:
            size = self.driver.get_window_size()
            height = self.js("return document.documentElement.scrollHeight")
            self.driver.set_window_size(size["width"], min(int(height) + 40, 4000))
        png = self.driver.get_screenshot_as_png()
        if out is not None:
            out.write_bytes(png)
        return Image.open(io.BytesIO(png)).convert("RGB")

    def close(self) -> None:
        self.driver.quit()
        self.profile.cleanup()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    found = _binaries()
    if found is None:
        pytest.skip(
            "no headless Chromium: install it with `apt-get install -y chromium chromium-driver` "
            "to run the browser tests"
        )
    pytest.importorskip(
        "selenium", reason="the browser tests need selenium (pip install -e .[dev])"
    )
    b = Browser(*found)
    yield b
    b.close()


def not_blank(image: Any) -> bool:
    """More than a background: many colours, and pixels that differ from the most common one."""
    from PIL import ImageStat

    small = image.resize((image.width // 4, image.height // 4))
    colours = small.getcolors(maxcolors=1 << 16)
    many = colours is None or len(colours) > 30
    return many and max(ImageStat.Stat(small).stddev) > 10
