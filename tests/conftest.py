"""Fixtures for the cross-app tests that drive real processes and browsers."""

import json
from collections.abc import Iterator

import pytest

from tests.browser import CHROMIUM_FLAGS, MEDIA_FLAGS, chromium_path
from tests.helpers import manage, run_script, site_env, web_server


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """One browser per test module. Module scope, not session: Playwright's sync API keeps an
    event loop of its own that would stand in the way of later asyncio tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def chromium_media() -> Iterator:
    """Like `chromium`, with a fake camera and microphone for the live video pages."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=[*CHROMIUM_FLAGS, *MEDIA_FLAGS]
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def live_room_site(tmp_path_factory) -> Iterator[tuple[str, dict]]:
    """A real server (uvicorn) serving the embedded default with tests/live_room_scenario.py's live
    room; yields (base URL, the scenario's ids and password)."""
    env = site_env(tmp_path_factory.mktemp("live-room-site"))
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    scenario = run_script("tests/live_room_scenario.py", env=env)
    assert scenario.returncode == 0, scenario.stderr
    ids = json.loads(scenario.stdout.strip().splitlines()[-1])
    with web_server(env) as base_url:
        yield base_url, ids
