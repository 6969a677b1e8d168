"""Helpers for the room socket tests (rooms/tests/test_consumer*.py): a small client around
WebsocketCommunicator that waits for a message of a given type, and fixtures that open sockets
and always close them. The test modules load this file through `pytest_plugins` only (never
import it), so that pytest rewrites its asserts; they reach everything through fixtures.

Reading goes straight to the communicator's output queue: WebsocketCommunicator's own
receive methods cancel the application on a timeout, which would hide what the server
really does after a quiet moment."""

import asyncio
import contextlib
import json
import time
from collections.abc import Callable

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer

from rooms import consumers, events

TIMEOUT = 3.0  # waiting for something that must come
QUIET = 0.2  # watching for something that must not come
# The tests that are about coalescing use the real interval; the others need not wait
# half a second for the viewer-count announcer to finish after every change.
FAST_VIEWER_COUNT_INTERVAL = 0.02
CLOSED = "websocket.close"  # the pseudo message type a closed socket yields
# How long a closed consumer may take to finish before the test cancels it. The Redis tests
# lower it: a consumer whose channel-layer receive is cancelled mid-BZPOPMIN sometimes never
# finishes by itself (channels_redis 4.3 with redis-py 8 on Python 3.11; a server cancels it
# again later), and each such socket would add the full wait to the test.
DISCONNECT_TIMEOUT = 3.0


class Socket:
    """One room socket as a client sees it."""

    def __init__(self, communicator, label: str) -> None:
        self.communicator = communicator
        self.label = label
        self.received: list[dict] = []  # everything, in arrival order (with "_at" times)
        self.pending: list[dict] = []  # received, not yet taken by expect()
        self.state: dict | None = None  # the room-state it got on connecting
        self.close_code: int | None = None
        self.disconnected = False

    def __repr__(self) -> str:
        return f"<Socket {self.label}>"

    # --- sending ---------------------------------------------------------------------
    async def send(self, frame) -> None:
        await self.send_text(json.dumps(frame))

    async def send_text(self, text: str) -> None:
        # send_input directly: WebsocketCommunicator.send_to refuses an empty string.
        await self.communicator.send_input({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self.communicator.send_input({"type": "websocket.receive", "bytes": data})

    # --- receiving -------------------------------------------------------------------
    async def _next(self, timeout: float) -> dict | None:
        """The next message, or None when nothing came within `timeout`."""
        future = self.communicator.future
        if future.done() and not future.cancelled() and future.exception():
            raise future.exception()  # the consumer crashed
        try:
            output = await asyncio.wait_for(self.communicator.output_queue.get(), timeout)
        except TimeoutError:
            if future.done() and not future.cancelled() and future.exception():
                raise future.exception() from None
            return None
        if output["type"] == "websocket.close":
            self.close_code = output.get("code", 1000)
            message = {"type": CLOSED, "code": self.close_code}
        else:
            assert output["type"] == "websocket.send", output
            assert "text" in output and output.get("bytes") is None, "server sent binary"
            message = json.loads(output["text"])
            assert isinstance(message, dict) and isinstance(message.get("type"), str), message
        message["_at"] = time.monotonic()
        self.received.append(message)
        return message

    async def expect(self, type_: str, *, timeout: float = TIMEOUT, **fields) -> dict:
        """The first message of `type_` (and `fields`) not taken yet, waiting if needed.
        Other messages stay pending for later expectations."""

        def matches(message: dict) -> bool:
            return message["type"] == type_ and all(
                message.get(name) == value for name, value in fields.items()
            )

        for message in self.pending:
            if matches(message):
                self.pending.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = await self._next(left)
            if message is None:
                break
            if matches(message):
                return message
            self.pending.append(message)
        wanted = f"{type_} {fields}" if fields else type_
        seen = [{k: v for k, v in m.items() if k != "_at"} for m in self.received[-15:]]
        raise AssertionError(f"{self.label}: no {wanted} within {timeout} s; last seen {seen}")

    async def expect_error(self, code: str, *, timeout: float = TIMEOUT) -> dict:
        error = await self.expect("error", timeout=timeout)
        assert error["code"] == code, f"{self.label}: expected error {code}, got {error}"
        assert isinstance(error["message"], str) and error["message"], error
        assert set(error) == {"type", "code", "message", "_at"}, error
        return error

    async def expect_close(self, *, timeout: float = TIMEOUT) -> int:
        await self.expect(CLOSED, timeout=timeout)
        return self.close_code

    async def collect(self, wait: float = QUIET) -> list[dict]:
        """Everything pending plus whatever arrives within `wait` seconds; takes it all."""
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            if await self._next(left) is None:
                break
            self.pending.append(self.received[-1])
        taken, self.pending = self.pending, []
        return taken

    async def nothing(self, *types: str, wait: float = QUIET) -> None:
        """Assert that no message (of `types`, when given) is pending or comes within `wait`."""
        messages = await self.collect(wait)
        unwanted = [m for m in messages if not types or m["type"] in types]
        assert not unwanted, f"{self.label} got unexpected {unwanted}"
        # Keep the rest for later expectations.
        self.pending.extend(m for m in messages if m not in unwanted)

    async def chat(self, text: str) -> dict:
        """Send a chat line and answer the echo everyone gets."""
        await self.send({"type": "chat-message", "text": text})
        return await self.expect("chat-message", text=text.strip())

    # --- closing ---------------------------------------------------------------------
    async def disconnect(self) -> None:
        if self.disconnected:
            return
        self.disconnected = True
        future = self.communicator.future
        if future.done():
            if not future.cancelled() and future.exception():
                raise future.exception()
            return
        await self.communicator.disconnect(timeout=DISCONNECT_TIMEOUT)


async def settle_background_tasks(timeout: float = 5.0) -> None:
    """Let the consumers' background work (chat persistence, viewer-count announcements)
    finish before the test's database and event loop go away."""
    deadline = time.monotonic() + timeout
    while events.background_tasks and time.monotonic() < deadline:
        await asyncio.wait(set(events.background_tasks), timeout=deadline - time.monotonic())
    leftover = set(events.background_tasks)
    for task in leftover:
        task.cancel()
    assert not leftover, f"room background tasks still running after {timeout} s: {leftover}"


async def _eventually(check: Callable[[], object], *, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        result = await sync_to_async(check)()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


@pytest.fixture
def eventually():
    """Poll a synchronous (database) check until it answers something truthy (or time is up;
    then the last answer is returned for the test's assert)."""
    return _eventually


@pytest.fixture
async def open_socket(room_socket, monkeypatch):
    """Open a room socket (same arguments as `room_socket`), assert it was accepted and that
    its first message is room-state (kept as `.state`). Every socket is closed at the end."""
    monkeypatch.setattr(consumers, "VIEWER_COUNT_INTERVAL", FAST_VIEWER_COUNT_INTERVAL)
    layer = get_channel_layer()
    await layer.flush()
    opened: list[Socket] = []

    async def open_(room, user=None, *, label: str | None = None, **kwargs) -> Socket:
        communicator = await room_socket(room, user, **kwargs)
        socket = Socket(communicator, label or (user.username if user else "anonymous"))
        opened.append(socket)
        connected, code = await communicator.connect(timeout=TIMEOUT)
        assert connected, f"{socket.label}: handshake refused (close code {code})"
        first = await socket._next(TIMEOUT)
        assert first is not None and first["type"] == "room-state", first
        socket.state = first
        return socket

    yield open_
    try:
        for socket in opened:
            await socket.disconnect()
    finally:
        await settle_background_tasks()
        await layer.flush()


@pytest.fixture
async def refused(room_socket):
    """Try a handshake that must be refused; answer the close code."""

    async def check(room, user=None, **kwargs) -> int:
        communicator = await room_socket(room, user, **kwargs)
        connected, code = await communicator.connect(timeout=TIMEOUT)
        if not communicator.future.done():
            await communicator.disconnect(timeout=TIMEOUT)
        assert not connected, "the handshake was accepted"
        return code

    return check


@contextlib.asynccontextmanager
async def redis_everywhere(settings, redis_url: str, monkeypatch):
    """The Redis channel layer and room store (and so the hub over Redis) for one test, then
    back to the embedded default (the store and the layers are cached per process)."""
    from rooms.store import RedisRoomStore, get_store

    # See DISCONNECT_TIMEOUT: the consumer's own disconnect work is done well within this.
    monkeypatch.setattr("rooms.tests.socket_helpers.DISCONNECT_TIMEOUT", 0.5)
    saved = {"REDIS_URL": settings.REDIS_URL, "CHANNEL_LAYERS": settings.CHANNEL_LAYERS}
    settings.REDIS_URL = redis_url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "liveshop-test"},
        }
    }
    get_store.cache_clear()
    channel_layers.backends.clear()
    store = get_store()
    assert isinstance(store, RedisRoomStore)
    await store.clear()
    try:
        yield store
    finally:
        await store.clear()
        await store.redis.aclose()
        await get_channel_layer().flush()  # also closes its connection pools
        settings.REDIS_URL = saved["REDIS_URL"]
        settings.CHANNEL_LAYERS = saved["CHANNEL_LAYERS"]
        get_store.cache_clear()
        channel_layers.backends.clear()
