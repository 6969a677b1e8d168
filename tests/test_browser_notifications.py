"""The "Remind me" button in a real browser: a buyer asks to be reminded of an upcoming show
and browses elsewhere; when the seller goes live the buyer's page shows a toast that leads
to the show, the nav's badge counts it, and /notifications/ lists it."""

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import log_in
from tests.helpers import manage, python, site_env, web_server

PASSWORD = "x-Secret-99"

SCENARIO = f"""
import json
from datetime import timedelta

import django

django.setup()
from django.utils import timezone

from accounts import services as accounts
from rooms import services as rooms

seller = accounts.user_register(username="sally", email="sally@example.test", password={PASSWORD!r})
accounts.user_become_seller(user=seller, shop_name="Sally's Hats")
accounts.user_register(username="bob", email="bob@example.test", password={PASSWORD!r})
room = rooms.room_create(
    seller=seller, title="Summer hats", scheduled_start=timezone.now() + timedelta(hours=3)
)
print(json.dumps({{"room": room.pk}}))
"""


@pytest.fixture(scope="module")
def upcoming_show_site(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """A real server (embedded default) with sally's upcoming show; yields (URL, room id)."""
    env = site_env(tmp_path_factory.mktemp("notifications-site"))
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    scenario = python(SCENARIO, env=env)
    assert scenario.returncode == 0, scenario.stderr
    room_id = json.loads(scenario.stdout.strip().splitlines()[-1])["room"]
    with web_server(env) as base_url:
        yield base_url, room_id


def test_a_reminded_buyer_sees_a_toast_when_the_show_goes_live(chromium, upcoming_show_site):
    base_url, room_id = upcoming_show_site
    room_path = f"/rooms/{room_id}/"
    buyer = chromium.new_context().new_page()
    seller = chromium.new_context().new_page()
    try:
        log_in(buyer, base_url, "bob", PASSWORD)
        buyer.goto(f"{base_url}{room_path}")
        buyer.get_by_role("button", name=re.compile("^Remind me")).click()
        expect(buyer.locator(".remind")).to_contain_text("Reminder set ✓")

        # Somewhere else on the site, with the notification socket open.
        buyer.goto(f"{base_url}/products/")
        expect(buyer.locator("#toasts")).to_have_attribute("data-connected", "true")
        expect(buyer.locator("#notification-count")).to_be_hidden()

        log_in(seller, base_url, "sally", PASSWORD)
        seller.goto(f"{base_url}{room_path}")
        seller.get_by_role("button", name="Go live").click()
        expect(seller.locator("#room-status")).to_have_text("Live")

        toast = buyer.locator("#toasts .notify-toast")
        expect(toast).to_contain_text("Sally's Hats is live")
        expect(toast).to_contain_text("“Summer hats” has started")
        expect(toast.get_by_role("link", name="Watch now")).to_have_attribute("href", room_path)
        expect(buyer.locator("#notification-count")).to_have_text("1")
        assert buyer.url == f"{base_url}/products/"  # no reload: the toast came live

        toast.get_by_role("button", name="Dismiss").click()
        expect(toast).to_have_count(0)

        buyer.get_by_role("link", name=re.compile("^Notifications")).click()
        item = buyer.locator(".notification--unread")
        expect(item).to_contain_text("Sally's Hats is live")
        item.get_by_role("link", name="Sally's Hats is live").click()
        buyer.wait_for_url(f"{base_url}{room_path}")
        expect(buyer.locator("#room-status")).to_have_text("Live")
    finally:
        buyer.context.close()
        seller.context.close()
