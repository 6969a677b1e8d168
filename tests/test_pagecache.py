"""The micro-cache of the shop window (liveshop/pagecache.py), through the site's real ASGI
application: what one visitor is shown must never reach another, and a shared page is never
older than PAGE_CACHE_SECONDS."""

import asyncio
import re
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.urls import path
from django.utils import timezone

from liveshop import pagecache
from liveshop.asgi import django_asgi_app
from liveshop.pagecache import AnonymousPageCache, anonymous_page_cache
from rooms import services as room_services
from tests.helpers import child_env, python
from tests.test_settings import PRODUCTION

pytestmark = pytest.mark.django_db(transaction=True)  # Django answers from its own threads

ROOMS = "/rooms/"


class CountingApp:
    """Django's ASGI application, counting the requests that reach it."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        await django_asgi_app(scope, receive, send)


@pytest.fixture
def django_app() -> CountingApp:
    return CountingApp()


@pytest.fixture
async def cached(settings, django_app):
    """The site's HTTP side as production runs it, with a fresh cache (a long period unless
    a test shortens it, so slow machines do not see pages expire mid-test)."""
    settings.PAGE_CACHE_SECONDS = 60
    cache = AnonymousPageCache(django_app)
    yield cache
    await asyncio.gather(*cache.refreshes)


async def get(app, url: str, *, cookies: dict | None = None, headers=(), method="GET") -> dict:
    sent = [(b"host", b"testserver"), *headers]
    if cookies:
        sent.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    communicator = HttpCommunicator(app, method, url, headers=sent)
    response = await communicator.get_response(timeout=30)
    await communicator.wait(timeout=30)
    response["text"] = response["body"].decode()
    response["set_cookie"] = [
        v.decode() for k, v in response["headers"] if k.lower() == b"set-cookie"
    ]
    return response


def make_room(seller, make_product, title: str):
    return room_services.room_create(
        seller=seller,
        title=title,
        scheduled_start=timezone.now() + timedelta(days=1),
        products=[make_product(name=f"{title} scarf")],
    )


def signed_in_cookies(client, user) -> dict:
    client.force_login(user)
    return {name: morsel.value for name, morsel in client.cookies.items()}


# --- sharing, for anonymous visitors only -------------------------------------------------


async def test_anonymous_visitors_share_one_render_of_a_busy_page(cached, django_app):
    pages = await asyncio.gather(*(get(cached, ROOMS) for _ in range(20)))

    assert {page["status"] for page in pages} == {200}
    assert len({page["body"] for page in pages}) == 1
    assert django_app.calls == 1  # the other 19 waited for that render
    assert not pages[0]["set_cookie"]


async def test_within_the_period_a_change_shows_only_when_the_page_is_next_rendered(
    cached, django_app, seller, make_product
):
    assert "Late show" not in (await get(cached, ROOMS))["text"]
    await sync_to_async(make_room)(seller, make_product, "Late show")

    assert "Late show" not in (await get(cached, ROOMS))["text"]  # the shared page
    assert "Late show" in (await get(cached, ROOMS, cookies={"x": "1"}))["text"]  # not shared


async def test_a_signed_in_page_is_never_shown_to_anonymous_visitors_nor_the_reverse(
    cached, client, buyer
):
    cookies = await sync_to_async(signed_in_cookies)(client, buyer)

    mine = await get(cached, ROOMS, cookies=cookies)
    anonymous = await get(cached, ROOMS)
    mine_again = await get(cached, ROOMS, cookies=cookies)
    anonymous_again = await get(cached, ROOMS)

    for page in (mine, mine_again):
        assert "Log out" in page["text"] and buyer.username in page["text"]
    for page in (anonymous, anonymous_again):
        assert "Log out" not in page["text"] and buyer.username not in page["text"]
        assert "Log in" in page["text"]


async def test_a_visitors_cart_shows_only_to_that_visitor(cached, client, make_product):
    product = await sync_to_async(make_product)(name="Only one")
    # An anonymous shopper puts a product in their cart: a session cookie, no account.
    await get(cached, "/products/")  # the shared page is kept before the cart exists
    added = await sync_to_async(client.post)("/cart/add/", {"product_id": product.pk})
    assert added.status_code == 302
    shopper = {name: morsel.value for name, morsel in client.cookies.items()}

    theirs = await get(cached, "/products/", cookies=shopper)
    others = await get(cached, "/products/")

    def cart_badge(page) -> str:
        return re.search(r'id="cart-count" class="cart-badge">(\d+)<', page["text"])[1]

    assert cart_badge(theirs) == "1"
    assert cart_badge(others) == "0"
    assert cart_badge(await get(cached, "/products/")) == "0"


async def test_only_marked_pages_read_with_get_and_without_credentials_are_shared(
    cached, django_app, seller, make_product
):
    room = await sync_to_async(make_room)(seller, make_product, "Friday show")
    asked = [
        (f"/rooms/{room.pk}/", {}),  # the room page is not marked
        (ROOMS, {"method": "HEAD"}),
        (ROOMS, {"headers": [(b"authorization", b"Bearer anything")]}),
        (ROOMS, {"cookies": {"messages": "x"}}),  # any cookie but the CSRF cookie
    ]
    for url, how in asked:
        django_app.calls = 0
        await get(cached, url, **how)
        await get(cached, url, **how)
        assert django_app.calls == 2, (url, how)


async def test_nothing_is_shared_when_the_period_is_zero(cached, django_app, settings):
    settings.PAGE_CACHE_SECONDS = 0
    await get(cached, ROOMS)
    await get(cached, ROOMS)
    assert django_app.calls == 2


# --- answers that are for one visitor are never kept -------------------------------------


@anonymous_page_cache
def form_page(request):
    """A marked page that (wrongly) embeds a CSRF token: the cache must notice."""
    return HttpResponse(f"token={get_token(request)}")


@anonymous_page_cache
def private_page(request):
    response = HttpResponse("private")
    response["Cache-Control"] = "private"
    return response


urlpatterns = [path("form/", form_page), path("private/", private_page)]


async def test_a_page_that_sets_a_cookie_or_embeds_a_csrf_token_is_never_shared(
    cached, django_app, settings
):
    settings.ROOT_URLCONF = __name__
    first = await get(cached, "/form/")
    second = await get(cached, "/form/")

    assert first["set_cookie"] and second["set_cookie"], (first, second)
    assert first["text"] != second["text"]  # each visitor got their own token
    assert django_app.calls == 2

    # A visitor who has the CSRF cookie already gets a token of their own secret, too.
    secret = re.search(r"csrftoken=([^;]+)", first["set_cookie"][0])[1]
    third = await get(cached, "/form/", cookies={"csrftoken": secret})
    assert third["text"] not in (first["text"], second["text"])
    assert django_app.calls == 3


async def test_a_private_answer_is_never_shared(cached, django_app, settings):
    settings.ROOT_URLCONF = __name__
    await get(cached, "/private/")
    await get(cached, "/private/")
    assert django_app.calls == 2


# --- freshness and memory -----------------------------------------------------------------


async def test_a_shared_page_is_never_served_older_than_the_period(
    cached, settings, seller, make_product
):
    settings.PAGE_CACHE_SECONDS = 1
    assert "Late show" not in (await get(cached, ROOMS))["text"]
    await sync_to_async(make_room)(seller, make_product, "Late show")
    changed = time.monotonic()

    checked_late = 0
    while time.monotonic() < changed + 2.5:
        asked = time.monotonic()
        page = await get(cached, ROOMS)
        if asked > changed + settings.PAGE_CACHE_SECONDS:
            # Whatever was kept was asked for before the change, so it has expired by now.
            assert "Late show" in page["text"], round(asked - changed, 3)
            checked_late += 1
        await asyncio.sleep(0.05)
    assert checked_late


async def test_a_busy_page_is_rendered_again_before_it_expires(
    cached, settings, seller, make_product
):
    """Past half its life, a hit has the next version rendered in the background, so the
    visitors at the moment it expires do not all wait for a render."""
    settings.PAGE_CACHE_SECONDS = 1
    await get(cached, ROOMS)
    await sync_to_async(make_room)(seller, make_product, "Late show")
    await asyncio.sleep(0.6)
    await get(cached, ROOMS)  # the kept page, and a background render of the next one
    await asyncio.gather(*cached.refreshes)

    assert "Late show" in (await get(cached, ROOMS))["text"]


async def test_kept_pages_are_bounded_however_many_query_strings_are_asked(cached, monkeypatch):
    monkeypatch.setattr(pagecache, "MAX_ENTRIES", 3)
    for page in range(8):
        assert (await get(cached, f"/products/?q=x{page}"))["status"] == 200
    assert len(cached.pages) == 3


# --- the setting --------------------------------------------------------------------------

SHOW_PERIOD = (
    "import django; django.setup(); from django.conf import settings;"
    " print(settings.PAGE_CACHE_SECONDS)"
)


@pytest.mark.parametrize(
    ("env", "shown"),
    [({}, "0"), (PRODUCTION, "1"), ({**PRODUCTION, "PAGE_CACHE_SECONDS": "0"}, "0")],
    ids=["development", "production", "turned-off"],
)
def test_pages_are_kept_a_second_in_production_and_never_while_developing(env, shown):
    result = python(SHOW_PERIOD, env=child_env(**env))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == shown


@pytest.mark.parametrize("wrong", ["-1", "one"])
def test_a_wrong_period_is_refused_at_start_up(wrong):
    result = python(SHOW_PERIOD, env=child_env(**PRODUCTION, PAGE_CACHE_SECONDS=wrong))
    assert result.returncode != 0
    assert "PAGE_CACHE_SECONDS must be" in result.stderr
