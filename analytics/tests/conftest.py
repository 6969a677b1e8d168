"""Fixtures for the seller analytics tests: a seller's products and rooms, room sockets on
the full ASGI application (the socket helpers' `open_socket` builds on `room_socket`), and
a reader for the numbers the pages show in `data-stat` elements."""

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from accounts.tokens import RevocableRefreshToken
from liveshop.asgi import application
from rooms import services as room_services
from rooms.store import get_store
from rooms.tests.conftest import ORIGIN, session_cookie_for


@pytest.fixture(autouse=True)
async def _empty_room_store():
    await get_store().clear()
    yield
    await get_store().clear()


@pytest.fixture(autouse=True)
def _dummy_payments(settings):
    settings.PAYMENTS_BACKEND = "dummy"


@pytest.fixture
def jacket(make_product):
    return make_product(name="Denim jacket", price=Decimal("59.00"), stock=20)


@pytest.fixture
def scarf(make_product):
    return make_product(name="Silk scarf", price=Decimal("12.50"), stock=20)


@pytest.fixture
def make_room(db, seller):
    def make(*, products, owner=None, live: bool = True, title: str = "Evening show", **fields):
        owner = owner or seller
        room = room_services.room_create(
            seller=owner,
            title=title,
            scheduled_start=fields.pop("scheduled_start", timezone.now()),
            products=products,
            **fields,
        )
        if live:
            room = room_services.room_go_live(room=room, actor=owner)
        return room

    return make


@pytest.fixture
def room_socket():
    """A room socket: `user` by Bearer JWT, or by the website's session cookie
    (`via="session"`); `cookies` adds cookies (an anonymous browser's csrftoken)."""

    async def open_socket(
        room, user=None, *, via: str = "jwt", cookies: str = "", headers=()
    ) -> WebsocketCommunicator:
        all_headers = [*headers, (b"origin", ORIGIN)]
        cookie_header = cookies
        if user is not None and via == "jwt":
            token = await sync_to_async(
                lambda: str(RevocableRefreshToken.for_user(user).access_token)
            )()
            all_headers.append((b"authorization", f"Bearer {token}".encode()))
        if user is not None and via == "session":
            session = (await sync_to_async(session_cookie_for)(user)).decode()
            cookie_header = f"{session}; {cookies}" if cookies else session
        if cookie_header:
            all_headers.append((b"cookie", cookie_header.encode()))
        return WebsocketCommunicator(application, f"/ws/rooms/{room.pk}/", headers=all_headers)

    return open_socket


class _StatReader(HTMLParser):
    """Collects the text of `data-stat` elements inside the first element carrying
    attribute `scope` (name, value)."""

    def __init__(self, scope: tuple[str, str]) -> None:
        super().__init__()
        self.scope = scope
        self.depth = 0  # > 0 while inside the scope element
        self.done = False
        self.current: list | None = None  # [name, depth, text parts]
        self.found: dict[str, str] = {}

    VOID = frozenset(
        {
            "area",
            "base",
            "br",
            "col",
            "embed",
            "hr",
            "img",
            "input",
            "link",
            "meta",
            "source",
            "wbr",
        }
    )

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.done or tag in self.VOID:
            return
        if self.depth:
            self.depth += 1
            if "data-stat" in attrs and self.current is None:
                self.current = [attrs["data-stat"], self.depth, []]
        elif attrs.get(self.scope[0]) == self.scope[1]:
            self.depth = 1

    def handle_endtag(self, tag):
        if not self.depth or self.done:
            return
        if self.current is not None and self.current[1] == self.depth:
            name, _, parts = self.current
            self.found[name] = " ".join("".join(parts).split())
            self.current = None
        self.depth -= 1
        if self.depth == 0:
            self.done = True

    def handle_data(self, data):
        if self.current is not None:
            self.current[2].append(data)


def read_stats(html: str, scope: tuple[str, str]) -> dict[str, str]:
    reader = _StatReader(scope)
    reader.feed(html)
    assert reader.depth or reader.done, f"no element with {scope[0]}={scope[1]!r} on the page"
    return reader.found
