"""A micro-cache for the shop window: busy public pages, as an anonymous visitor sees them,
kept for a second in each server process.

Why: the home page, the rooms list and the product list are what every visitor (and every
crawler) opens first, and each render costs tens of milliseconds of one core. At 50 requests
in flight a process cannot render fast enough to answer each within 100 ms (issue 8,
bench/README.md "http_pages.py"), but it can answer from memory: within the second, a page
is rendered once per process however many ask for it. A second of staleness is invisible on
these pages (the live parts, viewer counts included, are refreshed by the room socket).

It sits in front of Django as ASGI middleware (liveshop/asgi.py), so an answer from memory
costs no thread, no signal and no middleware. Only what cannot differ between visitors is
kept; everything else goes to Django as before:

- only views marked with `@anonymous_page_cache`, only GET;
- only requests that carry nothing of a visitor: no Authorization header and no cookie
  except Django's CSRF cookie (a session cookie means a signed-in user or a visitor with a
  cart; the messages cookie means a flash message to show). The CSRF cookie alone changes a
  page only when the page embeds a CSRF token, and such a page is never kept: see below;
- only answers that are for anyone: status 200, no Set-Cookie (which is also how a page
  that embeds a CSRF token shows itself: Django sets the cookie whenever one is used),
  nothing `private`/`no-store`/`no-cache`, and no Vary on anything the key does not hold;
- the key is the scheme, host, path, query string, Accept-Language and Accept-Encoding;
- a page is served until `PAGE_CACHE_SECONDS` after its request *arrived* (never older), and
  while it is being rendered, the same requests wait for that render instead of starting
  their own; once a kept page is past half its life, the next request for it has the next
  version rendered in the background. So a busy page is rendered about twice per period
  per process, and nobody waits for a render but the first visitor after a quiet spell.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.http.cookie import parse_cookie
from django.urls import Resolver404, resolve

MAX_ENTRIES = 200  # query strings are the visitor's to choose: memory stays bounded
MAX_BODY_BYTES = 512 * 1024  # a list page is 30 to 60 KB; anything far larger is not kept
# What a kept answer may vary on: the key holds the matching request headers (Cookie: only
# requests without a visitor's cookies are looked up, see _anonymous).
_VARY_KEYED = {"accept-language", "accept-encoding", "cookie"}


def anonymous_page_cache(view: Callable) -> Callable:
    """Mark a page view whose anonymous answer may be shared for PAGE_CACHE_SECONDS."""
    view.anonymous_page_cache = True
    return view


@dataclass
class _Page:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    expires: float  # time.monotonic()


class _Recorder:
    """Passes an answer through to the client as it comes, keeping a copy while it can."""

    def __init__(self, send: Callable[[dict], Awaitable[None]]):
        self.send_on = send
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.parts: list[bytes] = []
        self.size = 0
        self.complete = False
        self.keeping = True

    async def send(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body" and self.keeping:
            body = message.get("body", b"")
            self.size += len(body)
            if self.size > MAX_BODY_BYTES:
                self.keeping, self.parts = False, []
            else:
                self.parts.append(body)
                self.complete = not message.get("more_body", False)
        await self.send_on(message)

    def page(self, expires: float) -> _Page | None:
        if not (self.keeping and self.complete and self.status == 200):
            return None
        for name, value in self.headers:
            name = name.lower()
            value = value.decode("latin-1").lower()
            if name == b"set-cookie":
                return None
            if name == b"cache-control" and any(
                word in value for word in ("private", "no-store", "no-cache")
            ):
                return None
            if name == b"vary" and not {v.strip() for v in value.split(",")} <= _VARY_KEYED:
                return None
        return _Page(self.headers, b"".join(self.parts), expires)


class AnonymousPageCache:
    """ASGI middleware around Django's HTTP application; see the module's docstring."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.pages: OrderedDict[tuple, _Page] = OrderedDict()
        self.rendering: dict[tuple, asyncio.Future] = {}
        self.refreshes: set[asyncio.Task] = set()  # held, so they are not garbage-collected

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        seconds = settings.PAGE_CACHE_SECONDS
        key = self._key(scope) if seconds > 0 else None
        if key is None:
            return await self.app(scope, receive, send)

        page = self._fresh(key)
        if page is None and key in self.rendering:
            # Someone is rendering this page right now: wait for it rather than render too.
            page = await asyncio.shield(self.rendering[key])
            page = page if page is not None and page.expires > time.monotonic() else None
            if page is None:  # that answer was not for sharing (or came too late)
                return await self.app(scope, receive, send)
        if page is None:
            await self._render(key, self._begin(key), scope, receive, send)
            return None

        await send({"type": "http.response.start", "status": 200, "headers": page.headers})
        await send({"type": "http.response.body", "body": page.body})
        if page.expires - time.monotonic() < seconds / 2 and key not in self.rendering:
            # Past half its life: render the next one now, in the background, so a busy page
            # never expires with fifty visitors waiting for its next render.
            refresh = asyncio.create_task(
                self._render(key, self._begin(key), dict(scope), _empty_body(), _discard)
            )
            self.refreshes.add(refresh)
            refresh.add_done_callback(self.refreshes.discard)
        return None

    def _begin(self, key: tuple) -> asyncio.Future:
        """Say that `key` is being rendered (at once, before any await: one render a key)."""
        rendered = asyncio.get_running_loop().create_future()
        self.rendering[key] = rendered
        return rendered

    async def _render(
        self, key: tuple, rendered: asyncio.Future, scope: dict, receive: Callable, send: Callable
    ) -> None:
        """Django answers; the answer is kept if it is for anyone (see _Recorder.page)."""
        arrived = time.monotonic()
        page = None
        try:
            recorder = _Recorder(send)
            await self.app(scope, receive, recorder.send)
            page = recorder.page(expires=arrived + settings.PAGE_CACHE_SECONDS)
            if page is not None:
                self._keep(key, page)
        finally:
            del self.rendering[key]
            rendered.set_result(page)

    def _key(self, scope: dict) -> tuple | None:
        """The cache key of a request that may share an answer; None for any other."""
        if scope["type"] != "http" or scope["method"] != "GET":
            return None
        headers = _headers(scope)
        if "authorization" in headers or not _anonymous(headers.get("cookie", "")):
            return None
        path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
        if not _shared_view(settings.ROOT_URLCONF, path):
            return None
        return (
            scope.get("scheme", "http"),
            headers.get("x-forwarded-proto"),  # what request.is_secure() may go by
            headers.get("host"),
            path,
            scope.get("query_string", b""),
            headers.get("accept-language"),
            headers.get("accept-encoding"),
        )

    def _fresh(self, key: tuple) -> _Page | None:
        page = self.pages.get(key)
        if page is None:
            return None
        if page.expires <= time.monotonic():
            del self.pages[key]
            return None
        return page

    def _keep(self, key: tuple, page: _Page) -> None:
        self.pages[key] = page
        self.pages.move_to_end(key)
        while len(self.pages) > MAX_ENTRIES:
            self.pages.popitem(last=False)  # the oldest kept


@lru_cache(maxsize=1024)
def _shared_view(urlconf: str, path: str) -> bool:
    """Whether `path` leads to a view marked with @anonymous_page_cache. Remembered for the
    last 1024 paths (made-up paths only push others out): resolving on every request was 8%
    of the CPU of a daphne process answering from memory."""
    try:
        view = resolve(path, urlconf).func
    except Resolver404:
        return False
    return getattr(view, "anonymous_page_cache", False)


def _empty_body() -> Callable[[], Awaitable[dict]]:
    """`receive` of a background render: an empty GET body, then nothing until Django stops
    listening for a disconnect (it cancels that wait once it has answered)."""
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop()
        return await asyncio.get_running_loop().create_future()  # the disconnect never comes

    return receive


async def _discard(message: dict) -> None:
    """`send` of a background render: nobody is waiting for it; the recorder keeps it."""


def _headers(scope: dict) -> dict[str, str]:
    """The request's headers as Django reads them (django.core.handlers.asgi.ASGIRequest):
    names with an underscore dropped, repeated headers joined with commas. The decision to
    share an answer must see exactly what the view will see."""
    joined: dict[str, list[str]] = {}
    for name, value in scope.get("headers", ()):
        name = name.decode("latin-1").lower()
        if "_" not in name:
            joined.setdefault(name, []).append(value.decode("latin-1"))
    return {name: ",".join(values) for name, values in joined.items()}


def _anonymous(cookie_header: str) -> bool:
    """True when the request's cookies, read by Django's own parser, say nothing about the
    visitor: none, or only the CSRF cookie."""
    return set(parse_cookie(cookie_header)) <= {settings.CSRF_COOKIE_NAME}
