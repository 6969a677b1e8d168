"""Room fan-out: each server process hears a room's events once and writes them to its own
sockets in that room (issue 8; measured in bench/room_fanout.py, figures in bench/README.md).

The plain Channels way (one channel-layer group membership per socket) costs, per event and
per socket, one Redis pop, one JSON encoding and one thread hop (Channels closes stale
database connections in a thread before every handler). A live room is a broadcast to
thousands of sockets, so here:

- an event is encoded once, by whoever sends it (`room_event_send`);
- with Redis, it is PUBLISHed once on the room's channel; each process holds one
  subscription per room it has sockets in (one pub/sub connection per process and event
  loop), so Redis sends it once per process, not once per socket;
- the process writes the same frame to each of its sockets of the addressed group (the room,
  its staff, or one user's sockets) straight through the ASGI `send`: no channel-layer
  message, no consumer dispatch, no thread hop. Listeners that need to react to an event
  (a socket learning the room went live, a media unit learning it ended) name the kinds they
  intercept and get them as calls.

Chat ticks: a socket that opted in (`?batch=chat` on its URL; the website does) gets a busy
room's chat lines together, one `chat-batch` frame per CHAT_TICK per room instead of one
frame per line: at 20 lines a second that halves the frames per viewer, and at 100 lines a
second divides them by ten. The other sockets get each `chat-message` at once, as before.
Any other event in the room first sends the pending batch, so nothing overtakes a line
(a `message-deleted` never arrives before the line it deletes).

Without Redis (the embedded default: one process), events go straight to the local sockets.

Order: one subscription per process means one ordered stream per room per process, so every
socket sees a room's events in the order Redis received them (the channel layer gave no such
promise across senders).

If the subscription's connection is lost, events published meanwhile are lost for this
process's sockets; they are closed (code 1012, "service restart") so that their clients
reconnect and get the room's state afresh, rather than stay open with a hole in the chat.

Slow readers: a delivery never waits. Deliveries on a loop go one at a time, and uvicorn's
`send` waits while a socket's write buffer is full (its client stopped reading, with some
2.8 MB unread in the kernel), so one such client would hold up every room of the process.
A socket whose frame cannot be written at once is dropped from the hub there and then, and
closed (4408) in the background, whenever its client reads again or goes away: it gets no
more frames, so the memory it holds stays bounded (the kernel's buffer and the transport's
64 KiB), and its client reconnects and resyncs from a fresh room-state. daphne never waits
(it buffers without bound), so this matters under the production server.
"""

import asyncio
import logging
import weakref
from typing import Protocol

import redis.asyncio
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from rooms.events import room_group, run_in_background
from rooms.store import RedisRoomStore, RoomStore, get_store

logger = logging.getLogger(__name__)

CLOSE_SUBSCRIPTION_LOST = 1012  # WebSocket "service restart": reconnect and resync
CLOSE_TOO_SLOW = 4408  # the client did not read its frames: reconnect and resync
CHAT_TICK = 0.1  # seconds a chat line may wait to share a frame with the next ones
BATCH_HEAD, BATCH_TAIL = '{"type":"chat-batch","messages":[', "]}"


class Listener(Protocol):
    """A room socket (or a media unit) on one event loop."""

    loop: asyncio.AbstractEventLoop
    hub_intercepts: frozenset[str]  # event kinds delivered through `hub_event`
    hub_held: list | None  # events kept back until `RoomHub.release` (set by `join`)
    hub_batches_chat: bool  # takes `chat-batch` frames (see CHAT_TICK)

    async def hub_send(self, message: dict) -> None:
        """The ASGI send: gets {"type": "websocket.send", "text": ...} for the other kinds."""

    async def hub_event(self, kind: str, text: str) -> None: ...

    async def hub_lost(self) -> None:
        """The process stopped hearing the room: events may have been missed."""

    async def hub_too_slow(self) -> None:
        """Dropped from the hub: its client stopped reading. Close it (this may wait until
        the client reads or goes away; it runs in the background)."""


def room_of(group: str) -> str:
    """ "room-7", "room-7-staff", "room-7-user-3" are all room 7's (rooms/events.py)."""
    return group.split("-", 2)[1]


class RoomHub:
    def __init__(self, store: RoomStore):
        self.store = store
        # group -> its listeners in this process (all loops; each listener knows its loop)
        self.groups: dict[str, set[Listener]] = {}
        self.rooms: dict[str, int] = {}  # room id -> number of (listener, group) entries
        self._subscribers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # (subscriber's loop or None, room) -> the encoded lines of the running chat tick
        self._ticks: dict[tuple, list[str]] = {}
        # Deliveries on one loop go one at a time: a tick's batch is written by a timer task
        # and must not interleave with the next event for the same sockets.
        self._locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.slow_sockets_dropped = 0  # since the process started (logged as it grows)
        self._heartbeats: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> task

    # --- membership ----------------------------------------------------------------------
    async def join(self, listener: Listener, groups: list[str], *, hold: bool = False) -> None:
        """Start hearing `groups`. With `hold`, events are kept back until `release`: a socket
        subscribes before it reads the room's state (so nothing sent after the read is
        missed) and must send that state before any event."""
        listener.hub_held = [] if hold else None
        for group in groups:
            self.groups.setdefault(group, set()).add(listener)
            room = room_of(group)
            self.rooms[room] = self.rooms.get(room, 0) + 1
        if isinstance(self.store, RedisRoomStore):
            self._keep_heartbeat()
            await self._subscriber().ensure({room_of(group) for group in groups})

    async def release(self, listener: Listener) -> None:
        """Deliver what was held back, in order, and stop holding."""
        held = listener.hub_held
        while held:  # events may still arrive (and be held) while these are written
            kind, text = held.pop(0)
            await self._deliver([listener], kind, text, {"type": "websocket.send", "text": text})
        listener.hub_held = None

    async def leave(self, listener: Listener, groups: list[str]) -> None:
        emptied = self._forget(listener, groups)
        if emptied and isinstance(self.store, RedisRoomStore):
            await self._subscriber().drop(emptied)

    # --- viewer heartbeat -----------------------------------------------------------------
    def _keep_heartbeat(self) -> None:
        """One viewer heartbeat task per event loop while the process has listeners: it tells
        the store that this process lives (RoomStore.viewer_heartbeat), so a dead process's
        viewers stop counting, and has the rooms whose count that changed told."""
        loop = asyncio.get_running_loop()
        task = self._heartbeats.get(loop)
        if task is None or task.done():
            self._heartbeats[loop] = loop.create_task(
                self._heartbeat(), name="room-viewer-heartbeat"
            )

    async def _heartbeat(self) -> None:
        from rooms.consumers import announce_viewer_count  # the consumers import the hub

        counts: dict[str, int] = {}  # as the last beat found them
        while self.rooms:
            await asyncio.sleep(self.store.viewer_ttl / 3)
            try:
                found = await self.store.viewer_heartbeat()
            except Exception:  # Redis away: the sockets are closed to resync meanwhile
                logger.warning("room viewer heartbeat failed", exc_info=True)
                continue
            for room, count in found.items():
                if counts.get(room) != count:  # healed, or changed anyway (told at most once)
                    run_in_background(announce_viewer_count(room, healed=True))
            counts = found

    def _forget(self, listener: Listener, groups: list[str]) -> set[str]:
        """Take `listener` out of `groups` (those it is in); the rooms left with no listener."""
        emptied = set()
        for group in groups:
            members = self.groups.get(group)
            if members is None or listener not in members:
                continue
            members.discard(listener)
            if not members:
                del self.groups[group]
            room = room_of(group)
            self.rooms[room] -= 1
            if not self.rooms[room]:
                del self.rooms[room]
                emptied.add(room)
        return emptied

    # --- sending -------------------------------------------------------------------------
    async def publish(self, group: str, kind: str, text: str) -> None:
        """Send the already-encoded event `text` (of type `kind`) to `group`, everywhere."""
        if isinstance(self.store, RedisRoomStore):
            await self.store.redis.publish(
                self._channel(room_of(group)), f"{group}\n{kind}\n{text}"
            )
        else:
            await self.deliver(group, kind, text, loop=None)

    async def deliver(
        self, group: str, kind: str, text: str, *, loop: asyncio.AbstractEventLoop | None
    ) -> None:
        """Write to this process's listeners of `group`: those on `loop` (the subscriber's),
        or, with no Redis, all of them, each on its own loop."""
        async with self._lock():
            room = room_of(group)
            tick = (loop, room)
            if kind == "chat-message" and group == room_group(room):
                if tick not in self._ticks:
                    self._ticks[tick] = []
                    asyncio.get_running_loop().call_later(CHAT_TICK, self._tick_ends, tick)
                self._ticks[tick].append(text)
                await self._dispatch(group, kind, text, loop, batching=False)
                return
            if tick in self._ticks:  # the lines before this event go first
                await self._flush(tick)
            await self._dispatch(group, kind, text, loop, batching=None)

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def _tick_ends(self, tick: tuple) -> None:
        async def flush() -> None:
            async with self._lock():
                await self._flush(tick)

        run_in_background(flush())

    async def _flush(self, tick: tuple) -> None:
        lines = self._ticks.pop(tick, None)
        if lines:
            loop, room = tick
            text = BATCH_HEAD + ",".join(lines) + BATCH_TAIL  # encoded once, for every socket
            await self._dispatch(room_group(room), "chat-batch", text, loop, batching=True)

    async def _dispatch(
        self,
        group: str,
        kind: str,
        text: str,
        loop: asyncio.AbstractEventLoop | None,
        *,
        batching: bool | None,
    ) -> None:
        """Write to the listeners of `group` on `loop` (all loops if None); `batching` picks
        only those that take (True) or do not take (False) chat batches."""
        listeners = self.groups.get(group)
        if not listeners:
            return
        running = asyncio.get_running_loop()
        message = {"type": "websocket.send", "text": text}  # one frame for every socket
        targets = []
        for listener in tuple(listeners):  # a send may make another socket leave
            if loop is not None and listener.loop is not loop:
                continue  # that loop's own subscriber delivers it
            if batching is not None and listener.hub_batches_chat is not batching:
                continue
            if listener.hub_held is not None:
                listener.hub_held.append((kind, text))
            elif listener.loop is not running:
                # Only without Redis, from a thread's own loop (async_to_sync in a test or
                # command): hand the call to the listener's loop.
                asyncio.run_coroutine_threadsafe(
                    self._deliver([listener], kind, text, message), listener.loop
                )
            else:
                targets.append(listener)
        await self._deliver(targets, kind, text, message)

    async def _deliver(self, targets: list, kind: str, text: str, message: dict) -> None:
        """Write to each of `targets` in turn, none of them allowed to wait."""
        index = 0
        while index < len(targets):
            try:
                # Zero time for them all: a send that would wait has a full write buffer
                # behind it (see "Slow readers" above). One timer per event, not per socket:
                # a timer costs some 5 µs, 20 times a frame write.
                async with asyncio.timeout(0):
                    while index < len(targets):
                        await self._deliver_to(targets[index], kind, text, message)
                        index += 1
            except TimeoutError:
                self._drop_slow(targets[index])
                index += 1

    @staticmethod
    async def _deliver_to(listener: Listener, kind: str, text: str, message: dict) -> None:
        try:
            if kind in listener.hub_intercepts:
                await listener.hub_event(kind, text)
            else:
                await listener.hub_send(message)
        except OSError:
            pass  # the socket closed meanwhile (uvicorn says so; daphne drops the frame)
        except Exception:  # one broken socket must not cost the others the event
            logger.exception("room event delivery failed")

    def _drop_slow(self, listener: Listener) -> None:
        """Stop writing to `listener` at once (no await: the caller holds the loop's
        delivery lock); unsubscribe and close it in the background."""
        groups = [group for group, members in self.groups.items() if listener in members]
        emptied = self._forget(listener, groups)
        self.slow_sockets_dropped += 1
        logger.warning(
            "room socket dropped: its client stopped reading (%s so far in this process)",
            self.slow_sockets_dropped,
        )
        run_in_background(listener.hub_too_slow())
        if emptied and isinstance(self.store, RedisRoomStore):
            run_in_background(self._subscriber().drop(emptied))

    # --- Redis pub/sub -------------------------------------------------------------------
    def _channel(self, room_id: str) -> str:
        return f"{self.store.prefix}:hub:{room_id}"

    def _subscriber(self) -> "_Subscriber":
        loop = asyncio.get_running_loop()
        subscriber = self._subscribers.get(loop)
        if subscriber is None:
            subscriber = self._subscribers[loop] = _Subscriber(self, loop)
        return subscriber

    def listeners_on(self, loop: asyncio.AbstractEventLoop) -> set[Listener]:
        return {
            listener
            for members in self.groups.values()
            for listener in members
            if listener.loop is loop
        }


class _Subscriber:
    """One pub/sub connection for one event loop of the process, subscribed to the rooms its
    listeners are in."""

    def __init__(self, hub: RoomHub, loop: asyncio.AbstractEventLoop):
        self.hub = hub
        self.loop = loop
        self.rooms: set[str] = set()
        self.pubsub = None
        self.reader: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def ensure(self, rooms: set[str]) -> None:
        missing = rooms - self.rooms
        if not missing:
            return
        async with self.lock:
            missing = rooms - self.rooms
            if not missing:
                return
            if self.pubsub is None:
                # No silent reconnects: redis-py would resubscribe by itself and the events
                # published meanwhile would be lost unnoticed; a lost connection must end
                # the reader, which closes the sockets (see _read).
                client = redis.asyncio.Redis.from_url(
                    self.hub.store.url,
                    socket_connect_timeout=5,
                    retry=Retry(NoBackoff(), 0),
                )
                self.pubsub = client.pubsub(ignore_subscribe_messages=True)
            # Subscribed before the caller's socket counts as joined: nothing sent after
            # its room-state is missed.
            await self.pubsub.subscribe(*(self.hub._channel(room) for room in missing))
            self.rooms |= missing
            if self.reader is None or self.reader.done():
                self.reader = asyncio.create_task(self._read(), name="room-hub-reader")

    async def drop(self, rooms: set[str]) -> None:
        async with self.lock:
            gone = {room for room in rooms & self.rooms if room not in self.hub.rooms}
            if gone and self.pubsub is not None:
                self.rooms -= gone
                try:
                    await self.pubsub.unsubscribe(*(self.hub._channel(room) for room in gone))
                except Exception:  # the reader notices a dead connection and cleans up
                    logger.warning("room hub could not unsubscribe", exc_info=True)

    async def _read(self) -> None:
        pubsub = self.pubsub
        quiet = settings.ROOM_HUB_HEALTH_SECONDS
        heard = self.loop.time()
        try:
            while True:
                message = await pubsub.get_message(timeout=quiet)
                if message is None:
                    # A connection can die without closing (a stalled proxy, a dropped NAT
                    # entry, a frozen Redis): reading would wait forever while this process's
                    # sockets hear nothing. After a quiet spell ask Redis; no answer within
                    # the next one counts as a lost subscription (see _reset).
                    if self.loop.time() - heard > 2 * quiet:
                        raise ConnectionError("room hub: Redis stopped answering")
                    await pubsub.ping()
                    continue
                heard = self.loop.time()
                if message["type"] != "message":
                    continue  # the answer to our ping ("pong")
                group, kind, text = message["data"].decode().split("\n", 2)
                await self.hub.deliver(group, kind, text, loop=self.loop)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("room hub lost its Redis subscription; closing this process's sockets")
        finally:
            await self._reset(pubsub)

    async def _reset(self, pubsub) -> None:
        """Forget the connection; the sockets that relied on it reconnect and resync."""
        async with self.lock:
            if self.pubsub is pubsub:
                self.pubsub = None
                self.rooms = set()
                self.reader = None  # this task is ending: a new subscription gets its own
            # Those listening now relied on the lost connection. Taken before any further
            # wait: sockets that join meanwhile subscribe afresh and must stay open.
            lost = self.hub.listeners_on(self.loop)
        for listener in lost:
            run_in_background(listener.hub_lost())  # a close may wait on a slow client
        try:
            async with asyncio.timeout(5):  # a stalled connection may never answer a goodbye
                await pubsub.aclose()
        except Exception:
            pass


_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_hub() -> RoomHub:
    """The process's hub, over the process's room store (tests that switch stores get a
    fresh hub with the fresh store)."""
    store = get_store()
    hub = _hubs.get(store)
    if hub is None:
        hub = _hubs[store] = RoomHub(store)
    return hub
