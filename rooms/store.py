"""Room state shared by every server process: viewers, recent chat, queue, spotlight,
mutes, bans, slow mode and rate-limit windows.

Bans are recorded for good in the database (rooms.models.RoomBan, through rooms.services);
the store's ban sets are a cache of those rows, loaded again when missing (see BansSource).

One interface, two implementations that pass the same tests (rooms/tests/test_store.py):
- RedisRoomStore: production; every daphne process sees the same state.
- MemoryRoomStore: the embedded default (one process, no Redis).

Methods are async (the room consumer is). Sync callers (services behind the REST API) use
`async_to_sync`; the Redis store keeps one client per event loop so that works anywhere.
"""

import asyncio
import contextlib
import json
import math
import threading
import time
import uuid
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from functools import lru_cache

import redis.asyncio
from channels.db import database_sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from liveshop.redis_retry import retry_once_on_a_dead_connection
from rooms.models import RoomBan

CHAT_KEPT = 200  # recent messages kept per room (late joiners get the last 50)
# A room's unique-viewer set is forgotten this long after its last join. The count the seller
# sees is saved on the room (ShoppingRoom.unique_viewers) as viewers come, so the set is only
# needed while the show runs; 7 days outlasts any show yet frees Redis (and the embedded
# store's memory) of every past show's sets. Expiry rather than "forget at room end": it needs
# no hook in the room's end (a show can end with nobody connected, or the process gone), and
# a late announcement after the end still finds the set.
SEEN_TTL = 7 * 24 * 3600.0
# Connections one event loop's store keeps to Redis; calls beyond that wait for one.
REDIS_CONNECTIONS = 50
# A server process not heard from for this long is taken for dead and its sockets stop
# counting among the viewers (RedisRoomStore: each process keeps its own viewers, refreshed
# by a heartbeat every third of it). Settings: ROOM_VIEWER_TTL_SECONDS.
VIEWER_TTL = 60.0
# Bans are recorded for good elsewhere (get_store's store: the database, rooms.models.RoomBan);
# the store's set of a room's bans is a cache of that record, loaded when the store does not
# hold it (a Redis that lost its data, a restarted process). A BansSource answers a room's
# banned user ids.
BansSource = Callable[[str], Awaitable[Iterable]]
# A load of a room's bans is thrown away when a ban was lifted while it ran (it may have read
# that ban), and the next attempt loads again; this many attempts, then BansNotLoaded.
BANS_LOAD_ATTEMPTS = 3
# A room's loaded ban set expires from Redis this long after it was loaded, and is loaded
# again at the next look: past shows' sets leave Redis by themselves. Only with a source:
# without one the set is the only record and never expires.
BANS_KEPT = 7 * 24 * 3600.0
# The member every loaded ban set holds: a set with no bans must still exist in Redis (an empty
# one does not), to tell "loaded, nobody banned" from "lost". Never an id (digits or hex).
BANS_LOADED = "loaded"


class BansNotLoaded(RedisError):
    """A room's bans could not be loaded into the store (bans were lifted during every
    attempt). A RedisError: callers treat it as a store that cannot answer right now (the
    room socket's connect closes with 1013, a frame gets `server_error`)."""


async def bans_in_database(room_id: str) -> list[str]:
    """The BansSource of get_store's store: the room's RoomBan rows."""

    def read() -> list[str]:
        banned = RoomBan.objects.filter(room_id=room_id).values_list("user_id", flat=True)
        return [str(user_id) for user_id in banned]

    return await database_sync_to_async(read)()


class RoomStore(ABC):
    seen_ttl: float = SEEN_TTL  # seconds; tests shorten it
    viewer_ttl: float = VIEWER_TTL  # seconds; see VIEWER_TTL
    # Where bans are recorded for good (see BansSource); None: the store's own set is the only
    # record (a store made without one, as the store's own tests do).
    bans_source: BansSource | None = None

    # --- viewers: distinct people, each possibly with several sockets (tabs) -------------
    @abstractmethod
    async def viewer_join(self, room_id: str, viewer: str) -> int:
        """Count one more socket for `viewer`; answer the number of distinct viewers."""

    @abstractmethod
    async def viewer_leave(self, room_id: str, viewer: str) -> int:
        """Count one socket less; the viewer is gone when none is left."""

    @abstractmethod
    async def viewer_count(self, room_id: str) -> int: ...

    @abstractmethod
    async def viewer_counts(self, room_ids: list[str]) -> list[int]:
        """The current viewer counts of several rooms in one go (one round trip): list pages
        show many live rooms, and one read per room was an N+1 on the store."""

    async def viewer_heartbeat(self) -> dict[str, int]:
        """Say that this process lives, for every room it has viewers in, and heal what is
        found: the viewers of processes not heard from for `viewer_ttl` no longer count.
        Answer those rooms' viewer counts. Call it every third of `viewer_ttl` while the
        process has viewers (rooms/hub.py does). One process, nothing to heal: nothing here."""
        return {}

    # --- unique viewers: everyone who ever joined, for the seller's numbers ---------------
    @abstractmethod
    async def viewer_seen(self, room_id: str, viewer: str) -> int:
        """Remember that `viewer` joined the room (once, however often); answer how many
        distinct viewers it has had. The room's set expires `seen_ttl` after its last join."""

    @abstractmethod
    async def viewers_seen(self, room_ids: list[str]) -> list[int]:
        """The distinct-viewer counts of several rooms in one go (one round trip)."""

    # --- chat ----------------------------------------------------------------------------
    @abstractmethod
    async def chat_append(self, room_id: str, message: dict) -> None: ...

    async def chat_post(
        self, room_id: str, user_id, message: dict, *, limit: int, window: float, staff: bool
    ) -> tuple[str, int]:
        """Everything a chat line needs before it is broadcast, in one step (one round trip
        with Redis: a busy room's lines must not wait on six): refuse it if the user is
        banned ("banned"), muted ("muted", seconds left), over `limit` lines per `window`
        seconds ("rate_limited") or, unless `staff`, inside the room's slow mode
        ("slow_mode", its seconds); else count it, start the user's slow-mode wait, keep
        it in the recent history and answer ("ok", 0). A refused line counts for nothing.
        When the store does not hold the room's bans, they are loaded first (see
        `_with_bans`): two more round trips and a database read, once per room."""
        return await self._with_bans(
            room_id,
            lambda: self._chat_post(
                room_id, user_id, message, limit=limit, window=window, staff=staff
            ),
        )

    @abstractmethod
    async def _chat_post(
        self, room_id: str, user_id, message: dict, *, limit: int, window: float, staff: bool
    ) -> tuple[str, int]:
        """chat_post's one step, or ("reload", bans lifted so far) when the store does not
        hold the room's bans (then nothing was counted or kept)."""

    @abstractmethod
    async def chat_recent(self, room_id: str, limit: int = 50) -> list[dict]:
        """The last `limit` messages, oldest first."""

    @abstractmethod
    async def chat_delete(self, room_id: str, message_id: str) -> bool: ...

    # --- queue: ordered, no duplicates ---------------------------------------------------
    @abstractmethod
    async def queue_join(self, room_id: str, user: dict) -> int:
        """Add `user` (a dict with "id") at the end unless queued; answer their 1-based place."""

    @abstractmethod
    async def queue_leave(self, room_id: str, user_id: str) -> bool: ...

    @abstractmethod
    async def queue_pop(self, room_id: str) -> dict | None: ...

    @abstractmethod
    async def queue_list(self, room_id: str) -> list[dict]: ...

    async def queue_position(self, room_id: str, user_id: str) -> int | None:
        for place, user in enumerate(await self.queue_list(room_id), start=1):
            if str(user["id"]) == str(user_id):
                return place
        return None

    async def room_state(self, room_id: str, user_id, chat_limit: int = 50) -> dict:
        """What a socket's room-state needs from the store, in one go (one round trip with
        Redis: a join storm is thousands of these): `spotlight`, the last `chat_limit` chat
        lines, the user's `queue_position` (None when `user_id` is None or not queued) and
        `slow_mode`."""
        return {
            "spotlight": await self.spotlight_get(room_id),
            "chat": await self.chat_recent(room_id, chat_limit),
            "queue_position": None
            if user_id is None
            else await self.queue_position(room_id, user_id),
            "slow_mode": await self.slow_mode_get(room_id),
        }

    async def room_enter(
        self,
        room_id: str,
        viewer: str,
        user_id,
        *,
        seen: str | None = None,
        chat_limit: int = 50,
        values: tuple[str, ...] = (),
    ) -> dict:
        """Everything a socket's connect does with the store once it is let in, in one go (one
        round trip with Redis where it took three to five: a join storm is thousands of these,
        and each round trip costs the server more CPU than the store's work): count the socket
        (`viewer_join`: its answer is `viewer_count`), remember `seen` among the room's unique
        viewers unless it is None (`viewer_seen`), read what `room_state` reads, and
        `value_get` each of `values` (`values`, in their order)."""
        viewer_count = await self.viewer_join(room_id, viewer)
        if seen is not None:
            await self.viewer_seen(room_id, seen)
        state = await self.room_state(room_id, user_id, chat_limit)
        return {
            "viewer_count": viewer_count,
            **state,
            "values": [await self.value_get(key) for key in values],
        }

    # --- spotlight -----------------------------------------------------------------------
    @abstractmethod
    async def spotlight_set(self, room_id: str, product: dict | None) -> None: ...

    @abstractmethod
    async def spotlight_get(self, room_id: str) -> dict | None: ...

    # --- moderation ----------------------------------------------------------------------
    @abstractmethod
    async def mute(self, room_id: str, user_id: str, seconds: int) -> None: ...

    @abstractmethod
    async def muted_for(self, room_id: str, user_id: str) -> int:
        """Seconds of mute left (0: may chat)."""

    async def ban(self, room_id: str, user_id) -> None:
        """Add the user to the room's bans. Record the ban in the source first (the services
        do: rooms.services.room_ban), so that a load of the room's bans finds it."""
        await self._with_bans(room_id, lambda: self._ban(room_id, str(user_id)))

    async def is_banned(self, room_id: str, user_id) -> bool:
        verdict, _ = await self._with_bans(room_id, lambda: self._is_banned(room_id, str(user_id)))
        return verdict == "banned"

    @abstractmethod
    async def unban(self, room_id: str, user_id) -> None:
        """Take the user out of the room's bans, after the source forgot the ban
        (rooms.services.room_unban), and count one more ban lifted in the room: a load
        of the room's bans that was under way may have read this one, and is thrown away."""

    async def _with_bans(
        self, room_id: str, step: Callable[[], Awaitable[tuple[str, int]]]
    ) -> tuple[str, int]:
        """Answer `step()`, which needs the room's bans in the store. Its ("reload", n): the
        store does not hold them (never loaded, or Redis lost them); load them from the
        source, n being the bans lifted so far (the load is kept only if none was lifted
        meanwhile), and take the step again."""
        for _attempt in range(BANS_LOAD_ATTEMPTS):
            verdict, number = await step()
            if verdict != "reload":
                return verdict, number
            banned = await self.bans_source(room_id) if self.bans_source is not None else ()
            await self._bans_fill(room_id, [str(user_id) for user_id in banned], lifted=number)
        raise BansNotLoaded(f"the bans of room {room_id} could not be loaded")

    @abstractmethod
    async def _ban(self, room_id: str, user_id: str) -> tuple[str, int]:
        """ban's one step: ("ok", 0), or ("reload", bans lifted) (see `_with_bans`)."""

    @abstractmethod
    async def _is_banned(self, room_id: str, user_id: str) -> tuple[str, int]:
        """is_banned's one step: ("banned", 0), ("ok", 0) or ("reload", bans lifted)."""

    @abstractmethod
    async def _bans_fill(self, room_id: str, banned: list[str], *, lifted: int) -> None:
        """Hold `banned` as the room's bans (loaded from the source), unless the room's count
        of lifted bans is no longer `lifted` (a ban was lifted during the load)."""

    @abstractmethod
    async def slow_mode_set(self, room_id: str, seconds: int) -> None: ...

    @abstractmethod
    async def slow_mode_get(self, room_id: str) -> int: ...

    # --- small primitives for rate limits and coalescing --------------------------------
    @abstractmethod
    async def hit(self, key: str, *, limit: int, window: float) -> bool:
        """Record an event under `key` unless `limit` events happened in the last `window`
        seconds; answer whether it was allowed (sliding window)."""

    @abstractmethod
    async def acquire(self, key: str, *, ttl: float) -> bool:
        """Take a lock that expires by itself after `ttl` seconds; False if already held."""

    @abstractmethod
    async def extend(self, key: str, *, ttl: float) -> None:
        """Push a held lock's expiry `ttl` seconds ahead."""

    @abstractmethod
    async def release(self, key: str) -> None: ...

    @abstractmethod
    async def value_get(self, key: str) -> str | None: ...

    @abstractmethod
    async def value_set(self, key: str, value: str, *, ttl: float | None = None) -> None: ...

    @abstractmethod
    async def value_claim(self, key: str, value: str, *, ttl: float) -> str:
        """Set `key` to `value` for `ttl` seconds unless it holds a value; answer the value it
        holds afterwards (ours if the claim won). A registry entry only one process owns."""

    @abstractmethod
    async def value_refresh(self, key: str, value: str, *, ttl: float) -> bool:
        """Push the expiry of `key` ahead only while it still holds `value`: an owner that was
        too slow (its claim expired and another took it) learns so instead of stealing back."""

    @abstractmethod
    async def value_delete(self, key: str, *, only_if: str | None = None) -> None:
        """Forget `key`; with `only_if`, only while it holds that value."""

    @abstractmethod
    async def clear(self) -> None:
        """Forget everything (tests)."""


class MemoryRoomStore(RoomStore):
    """In-process state for the embedded default. A lock makes each method atomic, since
    sync callers may reach it from other threads through async_to_sync."""

    def __init__(self, *, bans_source: BansSource | None = None) -> None:
        self._lock = threading.Lock()
        self.bans_source = bans_source
        self.clear_now()

    def clear_now(self) -> None:
        self._viewers: dict[str, dict[str, int]] = {}
        self._seen: dict[str, tuple[set[str], float]] = {}  # room -> (viewers, deadline)
        self._chat: dict[str, deque] = {}
        self._queue: dict[str, dict[str, dict]] = {}  # insertion-ordered
        self._spotlight: dict[str, dict | None] = {}
        self._expiring: dict[str, tuple[str, float | None]] = {}  # key -> (value, deadline)
        self._hits: dict[str, deque] = {}
        self._bans: dict[str, set[str]] = {}  # room -> banned user ids, once loaded
        self._bans_lifted: dict[str, int] = {}  # room -> bans lifted (see RoomStore.unban)

    async def clear(self) -> None:
        with self._lock:
            self.clear_now()

    # expiring values (mutes, slow mode, locks, last-sent counts)
    def _get(self, key: str) -> str | None:
        entry = self._expiring.get(key)
        if entry is None:
            return None
        value, deadline = entry
        if deadline is not None and deadline <= time.monotonic():
            del self._expiring[key]
            return None
        return value

    def _set(self, key: str, value: str, ttl: float | None) -> None:
        self._expiring[key] = (value, time.monotonic() + ttl if ttl else None)

    async def viewer_join(self, room_id, viewer):
        with self._lock:
            sockets = self._viewers.setdefault(room_id, {})
            sockets[viewer] = sockets.get(viewer, 0) + 1
            return len(sockets)

    async def viewer_leave(self, room_id, viewer):
        with self._lock:
            sockets = self._viewers.setdefault(room_id, {})
            left = sockets.get(viewer, 0) - 1
            if left > 0:
                sockets[viewer] = left
            else:
                sockets.pop(viewer, None)
            return len(sockets)

    async def viewer_count(self, room_id):
        with self._lock:
            return len(self._viewers.get(room_id, {}))

    async def viewer_counts(self, room_ids):
        with self._lock:
            return [len(self._viewers.get(room_id, {})) for room_id in room_ids]

    def _forget_expired_seen(self, now: float) -> None:
        # Swept on every join: one pass over the rooms that have sets (a handful in the
        # single-process default), so expired sets leave memory instead of piling up.
        for room_id in [r for r, (_, deadline) in self._seen.items() if deadline <= now]:
            del self._seen[room_id]

    async def viewer_seen(self, room_id, viewer):
        now = time.monotonic()
        with self._lock:
            self._forget_expired_seen(now)
            seen = self._seen.get(room_id, (set(), 0.0))[0]
            seen.add(viewer)
            self._seen[room_id] = (seen, now + self.seen_ttl)
            return len(seen)

    async def viewers_seen(self, room_ids):
        now = time.monotonic()
        with self._lock:
            self._forget_expired_seen(now)
            return [len(self._seen.get(room_id, ((), 0.0))[0]) for room_id in room_ids]

    async def chat_append(self, room_id, message):
        with self._lock:
            self._chat.setdefault(room_id, deque(maxlen=CHAT_KEPT)).append(message)

    async def _chat_post(self, room_id, user_id, message, *, limit, window, staff):
        now, wall = time.monotonic(), time.time()
        with self._lock:
            if (banned := self._banned(room_id, str(user_id)))[0] != "ok":
                return banned  # ("banned", 0) or ("reload", n)
            until = self._get(f"mute:{room_id}:{user_id}")
            if until and (left := math.ceil(float(until) - wall)) > 0:
                return "muted", left
            events = self._hits.setdefault(f"chat:{room_id}:{user_id}", deque())
            while events and events[0] <= now - window:
                events.popleft()
            if len(events) >= limit:
                return "rate_limited", 0
            slow = int(self._get(f"slow:{room_id}") or 0)
            if slow and not staff:
                if self._get(f"slow:{room_id}:{user_id}") is not None:
                    return "slow_mode", slow
                self._set(f"slow:{room_id}:{user_id}", "1", slow)
            events.append(now)
            self._chat.setdefault(room_id, deque(maxlen=CHAT_KEPT)).append(message)
            return "ok", 0

    async def chat_recent(self, room_id, limit=50):
        with self._lock:
            return list(self._chat.get(room_id, ()))[-limit:] if limit else []

    async def chat_delete(self, room_id, message_id):
        with self._lock:
            messages = self._chat.get(room_id, deque())
            for message in messages:
                if message["id"] == message_id:
                    messages.remove(message)
                    return True
            return False

    async def queue_join(self, room_id, user):
        with self._lock:
            queue = self._queue.setdefault(room_id, {})
            queue.setdefault(str(user["id"]), user)
            return list(queue).index(str(user["id"])) + 1

    async def queue_leave(self, room_id, user_id):
        with self._lock:
            return self._queue.get(room_id, {}).pop(str(user_id), None) is not None

    async def queue_pop(self, room_id):
        with self._lock:
            queue = self._queue.get(room_id, {})
            if not queue:
                return None
            first = next(iter(queue))
            return queue.pop(first)

    async def queue_list(self, room_id):
        with self._lock:
            return list(self._queue.get(room_id, {}).values())

    async def spotlight_set(self, room_id, product):
        with self._lock:
            self._spotlight[room_id] = product

    async def spotlight_get(self, room_id):
        with self._lock:
            return self._spotlight.get(room_id)

    async def mute(self, room_id, user_id, seconds):
        with self._lock:
            self._set(f"mute:{room_id}:{user_id}", str(time.time() + seconds), seconds)

    async def muted_for(self, room_id, user_id):
        with self._lock:
            until = self._get(f"mute:{room_id}:{user_id}")
        # Rounded up: "0" means "may chat", so a mute with 0.4 s left must still answer 1.
        return max(0, math.ceil(float(until) - time.time())) if until else 0

    def _banned(self, room_id: str, user_id: str) -> tuple[str, int]:
        """The _is_banned step; hold the lock."""
        bans = self._bans.get(room_id)
        if bans is None:
            return "reload", self._bans_lifted.get(room_id, 0)
        return ("banned", 0) if user_id in bans else ("ok", 0)

    async def _is_banned(self, room_id, user_id):
        with self._lock:
            return self._banned(room_id, user_id)

    async def _ban(self, room_id, user_id):
        with self._lock:
            bans = self._bans.get(room_id)
            if bans is None:
                return "reload", self._bans_lifted.get(room_id, 0)
            bans.add(user_id)
            return "ok", 0

    async def unban(self, room_id, user_id):
        with self._lock:
            self._bans.get(room_id, set()).discard(str(user_id))
            self._bans_lifted[room_id] = self._bans_lifted.get(room_id, 0) + 1

    async def _bans_fill(self, room_id, banned, *, lifted):
        with self._lock:
            if self._bans_lifted.get(room_id, 0) == lifted:
                self._bans.setdefault(room_id, set()).update(banned)

    async def slow_mode_set(self, room_id, seconds):
        with self._lock:
            self._set(f"slow:{room_id}", str(seconds), None)

    async def slow_mode_get(self, room_id):
        with self._lock:
            return int(self._get(f"slow:{room_id}") or 0)

    async def hit(self, key, *, limit, window):
        now = time.monotonic()
        with self._lock:
            events = self._hits.setdefault(key, deque())
            while events and events[0] <= now - window:
                events.popleft()
            if len(events) >= limit:
                return False
            events.append(now)
            return True

    async def acquire(self, key, *, ttl):
        with self._lock:
            if self._get(key) is not None:
                return False
            self._set(key, "1", ttl)
            return True

    async def extend(self, key, *, ttl):
        with self._lock:
            if self._get(key) is not None:
                self._set(key, "1", ttl)

    async def release(self, key):
        with self._lock:
            self._expiring.pop(key, None)

    async def value_get(self, key):
        with self._lock:
            return self._get(key)

    async def value_set(self, key, value, *, ttl=None):
        with self._lock:
            self._set(key, value, ttl)

    async def value_claim(self, key, value, *, ttl):
        with self._lock:
            held = self._get(key)
            if held is not None:
                return held
            self._set(key, value, ttl)
            return value

    async def value_refresh(self, key, value, *, ttl):
        with self._lock:
            if self._get(key) != value:
                return False
            self._set(key, value, ttl)
            return True

    async def value_delete(self, key, *, only_if=None):
        with self._lock:
            if only_if is None or self._get(key) == only_if:
                self._expiring.pop(key, None)


# Sliding-window rate limit in one round trip: drop old events, count, maybe add.
_HIT_SCRIPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return 1
"""

# Queue join without duplicates: the score is a per-room ticket, so order is arrival order.
_QUEUE_JOIN_SCRIPT = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local ticket = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], ticket, ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
end
return redis.call('ZRANK', KEYS[1], ARGV[1]) + 1
"""

_QUEUE_POP_SCRIPT = """
local first = redis.call('ZPOPMIN', KEYS[1])
if #first == 0 then return false end
local user = redis.call('HGET', KEYS[2], first[1])
redis.call('HDEL', KEYS[2], first[1])
return user
"""

# Viewers (RedisRoomStore), per room: the hash `<room>:viewers` {viewer: sockets, all
# processes} whose length is the count; each process's own part `<room>:viewers:<process>`
# {viewer: its sockets there}; and `<room>:viewer-procs` {process: its last heartbeat, ms of
# Redis's clock}. Every change writes the process's part and the total together, so the total
# is the sum of the parts. A process not heard from for the TTL is dead: its part is deleted
# and the total rebuilt from the live parts (rare: once per dead process and room). All three
# keys expire twice the TTL after the last heartbeat, so a room nobody serves any more frees
# its keys by itself. The parts are named from the total's key (one Redis, not a cluster).
# KEYS come in pairs per room (total, processes); ARGV[1] the process, [2] TTL ms, [3] expiry ms.
_VIEWERS_LUA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local ttl, keep = tonumber(ARGV[2]), tonumber(ARGV[3])
local function heal(total, procs)
  local dead = redis.call('ZRANGEBYSCORE', procs, '-inf', now - ttl)
  if #dead == 0 and (redis.call('EXISTS', total) == 1 or redis.call('EXISTS', procs) == 0) then
    return 0
  end
  for _, proc in ipairs(dead) do
    redis.call('DEL', total .. ':' .. proc)
    redis.call('ZREM', procs, proc)
  end
  redis.call('DEL', total)
  for _, proc in ipairs(redis.call('ZRANGE', procs, 0, -1)) do
    local part = redis.call('HGETALL', total .. ':' .. proc)
    for i = 1, #part, 2 do redis.call('HINCRBY', total, part[i], part[i + 1]) end
  end
  redis.call('PEXPIRE', total, keep)
  return 1
end
local function add(total, viewer, sockets)
  if sockets ~= 0 and redis.call('HINCRBY', total, viewer, sockets) <= 0 then
    redis.call('HDEL', total, viewer)
  end
end
local function alive(total, procs)
  redis.call('ZADD', procs, now, ARGV[1])
  for _, key in ipairs({total, procs, total .. ':' .. ARGV[1]}) do
    redis.call('PEXPIRE', key, keep)
  end
end
"""
# ARGV[4]: the viewer. Answers the count.
_VIEWER_JOIN_SCRIPT = (
    _VIEWERS_LUA
    + """
heal(KEYS[1], KEYS[2])
redis.call('HINCRBY', KEYS[1] .. ':' .. ARGV[1], ARGV[4], 1)
add(KEYS[1], ARGV[4], 1)
alive(KEYS[1], KEYS[2])
return redis.call('HLEN', KEYS[1])
"""
)
# ARGV[4]: the viewer; only a socket this process counted is taken off. Answers the count.
_VIEWER_LEAVE_SCRIPT = (
    _VIEWERS_LUA
    + """
heal(KEYS[1], KEYS[2])
local part = KEYS[1] .. ':' .. ARGV[1]
if redis.call('HEXISTS', part, ARGV[4]) == 1 then
  if redis.call('HINCRBY', part, ARGV[4], -1) <= 0 then redis.call('HDEL', part, ARGV[4]) end
  add(KEYS[1], ARGV[4], -1)
  if redis.call('EXISTS', part) == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
end
return redis.call('HLEN', KEYS[1])
"""
)
# Any number of rooms. Answers their counts.
_VIEWER_COUNTS_SCRIPT = (
    _VIEWERS_LUA
    + """
local counts = {}
for i = 1, #KEYS, 2 do
  heal(KEYS[i], KEYS[i + 1])
  counts[#counts + 1] = redis.call('HLEN', KEYS[i])
end
return counts
"""
)
# Any number of rooms; ARGV[3 + n]: how many viewers this process counts in the n-th room (-1:
# do not compare). Answers {count, 1 if this process's part is not what it counts} per room.
_VIEWER_BEAT_SCRIPT = (
    _VIEWERS_LUA
    + """
local answers = {}
for i = 1, #KEYS, 2 do
  heal(KEYS[i], KEYS[i + 1])
  alive(KEYS[i], KEYS[i + 1])
  local mine = tonumber(ARGV[3 + (i + 1) / 2])
  local part = redis.call('HLEN', KEYS[i] .. ':' .. ARGV[1])
  answers[#answers + 1] = {redis.call('HLEN', KEYS[i]), (mine >= 0 and part ~= mine) and 1 or 0}
end
return answers
"""
)
# ARGV[4], [5], ...: viewer, sockets pairs: this process's part as it should be (it was healed
# away while the process lived, or a call's answer was lost). Answers the count.
_VIEWER_RESTORE_SCRIPT = (
    _VIEWERS_LUA
    + """
heal(KEYS[1], KEYS[2])
local part = KEYS[1] .. ':' .. ARGV[1]
local had = {}
local flat = redis.call('HGETALL', part)
for i = 1, #flat, 2 do had[flat[i]] = tonumber(flat[i + 1]) end
for i = 4, #ARGV, 2 do
  local viewer, sockets = ARGV[i], tonumber(ARGV[i + 1])
  add(KEYS[1], viewer, sockets - (had[viewer] or 0))
  had[viewer] = nil
  redis.call('HSET', part, viewer, sockets)
end
for viewer, sockets in pairs(had) do
  add(KEYS[1], viewer, -sockets)
  redis.call('HDEL', part, viewer)
end
if redis.call('EXISTS', part) == 1 then
  alive(KEYS[1], KEYS[2])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return redis.call('HLEN', KEYS[1])
"""
)

# A room's bans (RedisRoomStore): the set `<room>:bans` holds the banned user ids and
# BANS_LOADED once loaded from the source (so it exists with no bans; a missing set is one
# Redis lost, or never had); `<room>:bans-lifted` counts the bans lifted (RoomStore.unban).
# A script that needs the bans answers {'reload', bans lifted} when the set is missing; the
# set is then filled (_BANS_FILL_SCRIPT) and the script run again (RoomStore._with_bans).
# _BANS_STEP_SCRIPT: is_banned (ARGV[2] '0') or ban (ARGV[2] '1') of user ARGV[1];
# KEYS bans, bans lifted.
_BANS_STEP_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'reload', tonumber(redis.call('GET', KEYS[2]) or '0')}
end
if ARGV[2] == '1' then
  redis.call('SADD', KEYS[1], ARGV[1])
  return {'ok', 0}
end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {'banned', 0} end
return {'ok', 0}
"""
# KEYS bans, bans lifted; ARGV bans lifted when the load began, expiry ms (0: none), then the
# members (BANS_LOADED and the banned ids). Nothing when a ban was lifted meanwhile.
_BANS_FILL_SCRIPT = """
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[1]) then return 0 end
for i = 3, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

# RoomStore.chat_post: KEYS bans, mute, rate window, slow mode, user's slow wait, history,
# bans lifted; ARGV user id, now, window, limit, event id, staff (1/0), message, lines kept.
_CHAT_POST_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'reload', tonumber(redis.call('GET', KEYS[7]) or '0')}
end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {'banned', 0} end
local muted = redis.call('PTTL', KEYS[2])
if muted > 0 then return {'muted', math.ceil(muted / 1000)} end
local now, window = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then return {'rate_limited', 0} end
if ARGV[6] == '0' then
  local slow = tonumber(redis.call('GET', KEYS[4]) or '0')
  if slow > 0 and not redis.call('SET', KEYS[5], '1', 'NX', 'PX', slow * 1000) then
    return {'slow_mode', slow}
  end
end
redis.call('ZADD', KEYS[3], now, ARGV[5])
redis.call('PEXPIRE', KEYS[3], math.ceil(window * 1000))
redis.call('RPUSH', KEYS[6], ARGV[7])
redis.call('LTRIM', KEYS[6], -tonumber(ARGV[8]), -1)
return {'ok', 0}
"""

_CHAT_DELETE_SCRIPT = """
local messages = redis.call('LRANGE', KEYS[1], 0, -1)
for _, raw in ipairs(messages) do
  if cjson.decode(raw)['id'] == ARGV[1] then
    redis.call('LREM', KEYS[1], 1, raw)
    return 1
  end
end
return 0
"""


# Compare-and-act on one value, atomically (the registry of forwarding units).
_REFRESH_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_DELETE_IF_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisRoomStore(RoomStore):
    def __init__(
        self,
        url: str,
        prefix: str = "liveshop:rooms",
        *,
        viewer_ttl: float = VIEWER_TTL,
        process: str | None = None,
        bans_source: BansSource | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.bans_source = bans_source
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # Viewers are kept per server process (see _VIEWERS_LUA): this store's process, and
        # what it counted itself, to say which rooms it beats for and to restore its part.
        self.viewer_ttl = viewer_ttl
        self.process = process or uuid.uuid4().hex
        self._mine_lock = threading.Lock()  # sync callers reach the store from other threads
        self._mine: dict[str, dict[str, int]] = {}  # room -> viewer -> sockets counted here
        self._busy: dict[str, int] = {}  # room -> viewer calls under way (no comparing then)

    @property
    def redis(self):
        """One client per event loop: async_to_sync callers run on loops of their own."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # A blocking pool: a join storm (thousands of sockets connecting at once) waits
            # its turn for a connection; redis-py's default pool refused the 101st
            # concurrent call outright ("Too many connections"), failing those handshakes.
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self.url,
                max_connections=REDIS_CONNECTIONS,
                timeout=5,  # seconds to wait for a free connection, then ConnectionError
                decode_responses=True,
                socket_timeout=5,
                socket_connect_timeout=5,
                retry=retry_once_on_a_dead_connection(),  # see liveshop/redis_retry.py
            )
            client = redis.asyncio.Redis(connection_pool=pool)
            self._clients[loop] = client
        return client

    def _key(self, room_id: str, part: str) -> str:
        return f"{self.prefix}:{room_id}:{part}"

    async def clear(self) -> None:
        keys = [key async for key in self.redis.scan_iter(f"{self.prefix}:*")]
        if keys:
            await self.redis.delete(*keys)
        with self._mine_lock:
            self._mine.clear()

    # --- viewers (see _VIEWERS_LUA) ------------------------------------------------------
    def _viewer_keys(self, room_id: str) -> tuple[str, str]:
        return self._key(room_id, "viewers"), self._key(room_id, "viewer-procs")

    def _viewer_args(self) -> tuple[str, int, int]:
        ttl = math.ceil(self.viewer_ttl * 1000)
        return self.process, ttl, 2 * ttl

    @contextlib.contextmanager
    def _viewer_call(self, room_id: str, viewer: str, sockets: int, *, counted_anyway: bool):
        """Around a call that counts `sockets` more (or less) of `viewer` for this process:
        record it among this process's own once the call went through (or, with
        `counted_anyway`, whatever came of it: a socket that left is gone here)."""
        with self._mine_lock:
            self._busy[room_id] = self._busy.get(room_id, 0) + 1
        done = False
        try:
            yield
            done = True
        finally:
            with self._mine_lock:
                self._busy[room_id] -= 1
                if not self._busy[room_id]:
                    del self._busy[room_id]
                if done or counted_anyway:
                    mine = self._mine.setdefault(room_id, {})
                    left = mine.get(viewer, 0) + sockets
                    if left > 0:
                        mine[viewer] = left
                    else:
                        mine.pop(viewer, None)
                    if not mine:
                        del self._mine[room_id]

    async def viewer_join(self, room_id, viewer):
        with self._viewer_call(room_id, viewer, 1, counted_anyway=False):
            return await self.redis.eval(
                _VIEWER_JOIN_SCRIPT, 2, *self._viewer_keys(room_id), *self._viewer_args(), viewer
            )

    async def viewer_leave(self, room_id, viewer):
        with self._viewer_call(room_id, viewer, -1, counted_anyway=True):
            return await self.redis.eval(
                _VIEWER_LEAVE_SCRIPT, 2, *self._viewer_keys(room_id), *self._viewer_args(), viewer
            )

    async def viewer_count(self, room_id):
        (count,) = await self.viewer_counts([room_id])
        return count

    async def viewer_counts(self, room_ids):
        if not room_ids:
            return []
        keys = [key for room_id in room_ids for key in self._viewer_keys(room_id)]
        return list(
            await self.redis.eval(_VIEWER_COUNTS_SCRIPT, len(keys), *keys, *self._viewer_args())
        )

    async def viewer_heartbeat(self):
        with self._mine_lock:
            # A room with a call under way is not compared: our part may be a step ahead.
            rooms = {
                room_id: -1 if self._busy.get(room_id) else len(viewers)
                for room_id, viewers in self._mine.items()
            }
        if not rooms:
            return {}
        keys = [key for room_id in rooms for key in self._viewer_keys(room_id)]
        answers = await self.redis.eval(
            _VIEWER_BEAT_SCRIPT, len(keys), *keys, *self._viewer_args(), *rooms.values()
        )
        counts = {}
        for room_id, (count, astray) in zip(rooms, answers, strict=True):
            if astray:
                # Our part is not what we count: it was healed away while we lived (a loop
                # stalled past the TTL), or a call's answer was lost. Put it right.
                with self._mine_lock:
                    mine = [item for pair in self._mine.get(room_id, {}).items() for item in pair]
                count = await self.redis.eval(
                    _VIEWER_RESTORE_SCRIPT,
                    2,
                    *self._viewer_keys(room_id),
                    *self._viewer_args(),
                    *mine,
                )
            counts[room_id] = count
        return counts

    async def viewer_seen(self, room_id, viewer):
        # A set, not a HyperLogLog: the count must be exact (a test checks it against the
        # sockets that joined), and even 100 000 viewers is a few MB for one show.
        key = self._key(room_id, "viewers-seen")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, viewer)
            # Refreshed with every join, in the same round trip (see SEEN_TTL).
            pipe.pexpire(key, math.ceil(self.seen_ttl * 1000))
            pipe.scard(key)
            _, _, count = await pipe.execute()
        return count

    async def viewers_seen(self, room_ids):
        if not room_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.scard(self._key(room_id, "viewers-seen"))
            return list(await pipe.execute())

    async def chat_append(self, room_id, message):
        key = self._key(room_id, "chat")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(message))
            pipe.ltrim(key, -CHAT_KEPT, -1)
            await pipe.execute()

    async def _chat_post(self, room_id, user_id, message, *, limit, window, staff):
        # The same keys as ban, mute, hit, slow_mode_set, acquire and chat_append use.
        verdict, number = await self.redis.eval(
            _CHAT_POST_SCRIPT,
            7,
            self._key(room_id, "bans"),
            self._key(room_id, f"mute:{user_id}"),
            f"{self.prefix}:hit:chat:{room_id}:{user_id}",
            self._key(room_id, "slow-mode"),
            f"{self.prefix}:lock:slow:{room_id}:{user_id}",
            self._key(room_id, "chat"),
            self._key(room_id, "bans-lifted"),
            str(user_id),
            time.time(),
            window,
            limit,
            uuid.uuid4().hex,
            1 if staff else 0,
            json.dumps(message),
            CHAT_KEPT,
        )
        return verdict, int(number)

    async def chat_recent(self, room_id, limit=50):
        if not limit:
            return []
        raw = await self.redis.lrange(self._key(room_id, "chat"), -limit, -1)
        return [json.loads(item) for item in raw]

    async def chat_delete(self, room_id, message_id):
        return bool(
            await self.redis.eval(_CHAT_DELETE_SCRIPT, 1, self._key(room_id, "chat"), message_id)
        )

    async def queue_join(self, room_id, user):
        keys = [self._key(room_id, p) for p in ("queue", "queue-ticket", "queue-users")]
        return await self.redis.eval(
            _QUEUE_JOIN_SCRIPT, 3, *keys, str(user["id"]), json.dumps(user)
        )

    async def queue_leave(self, room_id, user_id):
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._key(room_id, "queue"), str(user_id))
            pipe.hdel(self._key(room_id, "queue-users"), str(user_id))
            removed, _ = await pipe.execute()
        return bool(removed)

    async def queue_pop(self, room_id):
        keys = [self._key(room_id, "queue"), self._key(room_id, "queue-users")]
        raw = await self.redis.eval(_QUEUE_POP_SCRIPT, 2, *keys)
        return json.loads(raw) if raw else None

    async def queue_list(self, room_id):
        ids = await self.redis.zrange(self._key(room_id, "queue"), 0, -1)
        if not ids:
            return []
        users = await self.redis.hmget(self._key(room_id, "queue-users"), ids)
        return [json.loads(user) for user in users if user]

    async def spotlight_set(self, room_id, product):
        key = self._key(room_id, "spotlight")
        if product is None:
            await self.redis.delete(key)
        else:
            await self.redis.set(key, json.dumps(product))

    async def spotlight_get(self, room_id):
        raw = await self.redis.get(self._key(room_id, "spotlight"))
        return json.loads(raw) if raw else None

    async def room_state(self, room_id, user_id, chat_limit=50):
        async with self.redis.pipeline(transaction=False) as pipe:
            self._read_room_state(pipe, room_id, user_id, chat_limit)
            replies = await pipe.execute()
        return self._room_state_from(replies, user_id, chat_limit)

    def _read_room_state(self, pipe, room_id, user_id, chat_limit) -> None:
        """Queue room_state's four reads on `pipe` (their replies: `_room_state_from`). The
        same keys as spotlight_get, chat_recent, queue_position and slow_mode_get."""
        pipe.get(self._key(room_id, "spotlight"))
        pipe.lrange(self._key(room_id, "chat"), -chat_limit, -1)
        pipe.zrank(self._key(room_id, "queue"), str(user_id))
        pipe.get(self._key(room_id, "slow-mode"))

    @staticmethod
    def _room_state_from(replies, user_id, chat_limit) -> dict:
        spotlight, chat, rank, slow = replies
        return {
            "spotlight": json.loads(spotlight) if spotlight else None,
            "chat": [json.loads(line) for line in chat] if chat_limit else [],
            "queue_position": None if user_id is None or rank is None else rank + 1,
            "slow_mode": int(slow or 0),
        }

    async def room_enter(self, room_id, viewer, user_id, *, seen=None, chat_limit=50, values=()):
        seen_key = self._key(room_id, "viewers-seen")
        # One MULTI/EXEC: the count is the one right after our join, and the state read is the
        # one right after it (the socket already hears the room's events, so nothing written
        # after this read is missed). The same script, commands and keys as viewer_join,
        # viewer_seen, room_state and value_get.
        with self._viewer_call(room_id, viewer, 1, counted_anyway=False):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.eval(
                    _VIEWER_JOIN_SCRIPT,
                    2,
                    *self._viewer_keys(room_id),
                    *self._viewer_args(),
                    viewer,
                )
                if seen is not None:
                    pipe.sadd(seen_key, seen)
                    pipe.pexpire(seen_key, math.ceil(self.seen_ttl * 1000))
                self._read_room_state(pipe, room_id, user_id, chat_limit)
                for key in values:
                    pipe.get(f"{self.prefix}:value:{key}")
                replies = await pipe.execute()
        state_at = 1 if seen is None else 3  # where room_state's four replies begin
        return {
            "viewer_count": replies[0],
            **self._room_state_from(replies[state_at : state_at + 4], user_id, chat_limit),
            "values": replies[state_at + 4 :],
        }

    async def mute(self, room_id, user_id, seconds):
        await self.redis.set(self._key(room_id, f"mute:{user_id}"), "1", ex=seconds)

    async def muted_for(self, room_id, user_id):
        # PTTL rounded up: TTL rounds to the nearest second and answered 0 ("may chat") for
        # the last half second of a mute.
        left_ms = await self.redis.pttl(self._key(room_id, f"mute:{user_id}"))
        return max(0, math.ceil(left_ms / 1000))

    def _bans_keys(self, room_id: str) -> tuple[str, str]:
        return self._key(room_id, "bans"), self._key(room_id, "bans-lifted")

    async def _bans_step(self, room_id: str, user_id: str, *, add: bool) -> tuple[str, int]:
        keys = self._bans_keys(room_id)
        verdict, number = await self.redis.eval(
            _BANS_STEP_SCRIPT, 2, *keys, user_id, "1" if add else "0"
        )
        return verdict, int(number)

    async def _is_banned(self, room_id, user_id):
        return await self._bans_step(room_id, user_id, add=False)

    async def _ban(self, room_id, user_id):
        return await self._bans_step(room_id, user_id, add=True)

    async def unban(self, room_id, user_id):
        bans, lifted = self._bans_keys(room_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(bans, str(user_id))
            pipe.incr(lifted)
            # Only loads under way read it: it may go long before the set does.
            pipe.pexpire(lifted, math.ceil(BANS_KEPT * 1000))
            await pipe.execute()

    async def _bans_fill(self, room_id, banned, *, lifted):
        expiry = math.ceil(BANS_KEPT * 1000) if self.bans_source is not None else 0
        await self.redis.eval(
            _BANS_FILL_SCRIPT, 2, *self._bans_keys(room_id), lifted, expiry, BANS_LOADED, *banned
        )

    async def slow_mode_set(self, room_id, seconds):
        await self.redis.set(self._key(room_id, "slow-mode"), seconds)

    async def slow_mode_get(self, room_id):
        return int(await self.redis.get(self._key(room_id, "slow-mode")) or 0)

    async def hit(self, key, *, limit, window):
        now = time.time()
        member = uuid.uuid4().hex
        allowed = await self.redis.eval(
            _HIT_SCRIPT, 1, f"{self.prefix}:hit:{key}", now, window, limit, member
        )
        return bool(allowed)

    async def acquire(self, key, *, ttl):
        return bool(
            await self.redis.set(f"{self.prefix}:lock:{key}", "1", nx=True, px=int(ttl * 1000))
        )

    async def extend(self, key, *, ttl):
        await self.redis.pexpire(f"{self.prefix}:lock:{key}", int(ttl * 1000))

    async def release(self, key):
        await self.redis.delete(f"{self.prefix}:lock:{key}")

    async def value_get(self, key):
        return await self.redis.get(f"{self.prefix}:value:{key}")

    async def value_set(self, key, value, *, ttl=None):
        await self.redis.set(
            f"{self.prefix}:value:{key}", value, px=int(ttl * 1000) if ttl else None
        )

    async def value_claim(self, key, value, *, ttl):
        held = await self.redis.set(
            f"{self.prefix}:value:{key}", value, nx=True, px=int(ttl * 1000), get=True
        )
        return value if held is None else held

    async def value_refresh(self, key, value, *, ttl):
        return bool(
            await self.redis.eval(
                _REFRESH_SCRIPT, 1, f"{self.prefix}:value:{key}", value, int(ttl * 1000)
            )
        )

    async def value_delete(self, key, *, only_if=None):
        if only_if is None:
            await self.redis.delete(f"{self.prefix}:value:{key}")
        else:
            await self.redis.eval(_DELETE_IF_SCRIPT, 1, f"{self.prefix}:value:{key}", only_if)


@lru_cache(maxsize=1)
def get_store() -> RoomStore:
    """The process's store: Redis when REDIS_URL is set, else in-process memory; either
    way a cache of the bans in the database."""
    if settings.REDIS_URL:
        return RedisRoomStore(
            settings.REDIS_URL,
            viewer_ttl=settings.ROOM_VIEWER_TTL_SECONDS,
            bans_source=bans_in_database,
        )
    return MemoryRoomStore(bans_source=bans_in_database)
