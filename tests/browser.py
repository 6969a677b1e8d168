"""Debian's Chromium driven by Playwright (no browser download: `executable_path`)."""

import os
import shutil

from playwright.sync_api import expect

from conftest import require_service

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine has no internet: without these Chromium keeps trying to phone home.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Live video: a fake camera and microphone (a test pattern and a beep) that the page may use
# without a permission prompt. Autoplay keeps Chromium's own policy: muted autoplay must
# work without any flag.
MEDIA_FLAGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        require_service("Chromium", "install Debian's package: `apt-get install chromium`")
    return path


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")


def send_chat(page, text: str) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def open_nav(page) -> None:
    """Open the header's menu when it is folded (phones: a "Menu" button), as a visitor
    does before tapping one of its links; on wider screens the links show and this does
    nothing. Cart and Notifications stay in the top bar: they need no menu."""
    # static/js/nav.js (a module: it runs before DOMContentLoaded) is what folds the menu.
    page.wait_for_load_state("domcontentloaded")
    toggle = page.locator(".site-header").get_by_role("button", name="Menu", exact=True)
    if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
        expect(page.locator("#site-menu")).to_be_visible()


VIDEO_STATE = """(selector) => {
  const video = document.querySelector(selector);
  return {width: video.videoWidth, height: video.videoHeight, time: video.currentTime,
          paused: video.paused, muted: video.muted};
}"""


def watch_errors(page) -> list[str]:
    """Script errors on the page (each would be a bug)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def wait_for_pictures(page, selector: str, *, timeout_ms: int = 30000) -> dict:
    """Wait until the video element shows frames and its clock runs; its state then."""
    page.wait_for_function(
        f"() => document.querySelector({selector!r}).videoWidth > 0", timeout=timeout_ms
    )
    start = page.evaluate(VIDEO_STATE, selector)
    page.wait_for_function(
        f"(t) => document.querySelector({selector!r}).currentTime > t + 1",
        arg=start["time"],
        timeout=timeout_ms,
    )
    return page.evaluate(VIDEO_STATE, selector)


def go_live(page, base_url: str, room_id) -> None:
    page.goto(f"{base_url}/seller/rooms/{room_id}/studio/")
    wait_for_pictures(page, "#studio-preview")
    page.get_by_role("button", name="Go live").click()
    expect(page.locator("#publish-status")).to_have_attribute(
        "data-state", "connected", timeout=30000
    )
