"""Fixtures for the cross-app tests that drive real processes and browsers."""

from collections.abc import Iterator

import pytest

from tests.browser import CHROMIUM_FLAGS, chromium_path


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """One browser per test module. Module scope, not session: Playwright's sync API keeps an
    event loop of its own that would stand in the way of later asyncio tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
