"""The room store contract. Every test runs against both implementations: the in-process
MemoryRoomStore (embedded default) and RedisRoomStore on a real redis-server."""

import asyncio
import threading
import time
import uuid

import pytest
from asgiref.sync import async_to_sync

from rooms.store import CHAT_KEPT, MemoryRoomStore, RedisRoomStore, RoomStore

ROOM = "1"
OTHER_ROOM = "2"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request) -> RoomStore:
    if request.param == "memory":
        yield MemoryRoomStore()
        return
    redis_url = request.getfixturevalue("redis_url")
    # A prefix of its own: nothing another test (or a crashed run) left behind is visible.
    redis_store = RedisRoomStore(redis_url, prefix=f"test-store:{uuid.uuid4().hex}")
    await redis_store.clear()
    try:
        yield redis_store
    finally:
        await redis_store.clear()
        await redis_store.redis.aclose()


def message(number: int) -> dict:
    return {"type": "chat-message", "id": f"m{number}", "text": f"message {number}"}


def user(user_id: int) -> dict:
    return {"id": user_id, "username": f"user{user_id}", "display_name": f"User {user_id}"}


# --- viewers ----------------------------------------------------------------------------


async def test_viewers_are_counted_once_however_many_sockets_they_have(store):
    assert await store.viewer_count(ROOM) == 0
    assert await store.viewer_join(ROOM, "user:1") == 1
    assert await store.viewer_join(ROOM, "user:1") == 1  # a second tab
    assert await store.viewer_join(ROOM, "user:2") == 2
    assert await store.viewer_leave(ROOM, "user:1") == 2  # one tab of user 1 still open
    assert await store.viewer_count(ROOM) == 2
    assert await store.viewer_leave(ROOM, "user:1") == 1
    assert await store.viewer_leave(ROOM, "user:2") == 0
    assert await store.viewer_count(ROOM) == 0


async def test_viewers_of_one_room_do_not_count_in_another(store):
    await store.viewer_join(ROOM, "user:1")
    assert await store.viewer_count(OTHER_ROOM) == 0
    assert await store.viewer_join(OTHER_ROOM, "user:1") == 1
    assert await store.viewer_count(ROOM) == 1


async def test_viewer_counts_of_several_rooms_come_in_one_go_in_the_order_asked(store):
    assert await store.viewer_counts([]) == []
    assert await store.viewer_counts([ROOM, OTHER_ROOM]) == [0, 0]
    for viewer in ("user:1", "user:1", "user:2", "anon:x"):  # user 1 has two tabs
        await store.viewer_join(ROOM, viewer)
    await store.viewer_join(OTHER_ROOM, "user:1")
    assert await store.viewer_counts([OTHER_ROOM, "3", ROOM]) == [1, 0, 3]
    await store.viewer_leave(ROOM, "user:2")
    assert (
        await store.viewer_counts([ROOM, OTHER_ROOM])
        == [
            await store.viewer_count(ROOM),
            await store.viewer_count(OTHER_ROOM),
        ]
        == [2, 1]
    )


async def test_unique_viewers_count_each_viewer_once_even_after_they_left(store):
    assert await store.viewers_seen([ROOM]) == [0]
    assert await store.viewer_seen(ROOM, "user:1") == 1
    assert await store.viewer_seen(ROOM, "user:1") == 1  # a second tab, or back later
    assert await store.viewer_seen(ROOM, "anon:abc") == 2
    await store.viewer_join(ROOM, "user:1")
    await store.viewer_leave(ROOM, "user:1")
    assert await store.viewer_seen(OTHER_ROOM, "user:1") == 1
    assert await store.viewers_seen([ROOM, OTHER_ROOM, "3"]) == [2, 1, 0]
    assert await store.viewers_seen([]) == []


async def test_a_rooms_unique_viewers_are_forgotten_a_while_after_the_last_join(store):
    """The sets must not live forever (Redis memory, the process's memory): each join pushes
    the room's expiry `seen_ttl` ahead (7 days in production, a second here)."""
    store.seen_ttl = 1.0
    await store.viewer_seen(ROOM, "user:1")
    await store.viewer_seen(OTHER_ROOM, "user:1")
    await asyncio.sleep(0.6)
    assert await store.viewer_seen(ROOM, "user:2") == 2  # a join: ROOM's set lives on
    await asyncio.sleep(0.6)
    assert await store.viewers_seen([ROOM, OTHER_ROOM]) == [2, 0]
    await asyncio.sleep(0.6)
    assert await store.viewers_seen([ROOM, OTHER_ROOM]) == [0, 0]
    assert await store.viewer_seen(ROOM, "user:1") == 1  # a fresh set
    if isinstance(store, MemoryRoomStore):  # forgotten, not just hidden
        assert OTHER_ROOM not in store._seen


async def test_leaving_more_often_than_joining_never_goes_below_zero(store):
    assert await store.viewer_leave(ROOM, "user:1") == 0
    await store.viewer_join(ROOM, "user:1")
    assert await store.viewer_leave(ROOM, "user:1") == 0
    assert await store.viewer_leave(ROOM, "user:1") == 0
    assert await store.viewer_count(ROOM) == 0
    # No debt was kept: one socket joining again makes the viewer present again.
    assert await store.viewer_join(ROOM, "user:1") == 1
    assert await store.viewer_count(ROOM) == 1


async def test_concurrent_joins_of_distinct_viewers_all_count(store):
    # A join storm: far more calls at once than the Redis store has connections; they wait
    # their turn (redis-py's default pool failed the 101st with "Too many connections").
    joins = 600
    counts = await asyncio.gather(*(store.viewer_join(ROOM, f"anon:{n}") for n in range(joins)))
    assert sorted(counts) == list(range(1, joins + 1))
    assert await store.viewer_count(ROOM) == joins


async def test_a_viewer_heartbeat_changes_no_count_while_every_process_lives(store):
    for viewer in ("user:1", "user:1", "anon:a"):
        await store.viewer_join(ROOM, viewer)
    await store.viewer_join(OTHER_ROOM, "user:2")
    beat = await store.viewer_heartbeat()  # the memory store (one process) has nothing to do
    assert beat in ({}, {ROOM: 2, OTHER_ROOM: 1})
    assert await store.viewer_counts([ROOM, OTHER_ROOM]) == [2, 1]
    await store.viewer_leave(OTHER_ROOM, "user:2")
    assert await store.viewer_heartbeat() in ({}, {ROOM: 2})  # only rooms it has viewers in


# --- viewers over several server processes (Redis) --------------------------------------

TTL = 1.0  # seconds a process may stay silent (60 in production: ROOM_VIEWER_TTL_SECONDS)


@pytest.fixture
async def processes(redis_url):
    """Two server processes' stores on one Redis (each its own process id)."""
    prefix = f"test-store:{uuid.uuid4().hex}"
    stores = [RedisRoomStore(redis_url, prefix=prefix, viewer_ttl=TTL) for _ in range(2)]
    try:
        yield stores
    finally:
        await stores[0].clear()
        for each in stores:
            await each.redis.aclose()


async def beating(stores, seconds: float) -> None:
    """Let `seconds` pass with `stores` (only) beating, as their hubs do."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for each in stores:
            await each.viewer_heartbeat()
        await asyncio.sleep(TTL / 4)


@pytest.mark.redis
async def test_viewers_on_two_processes_add_up_and_a_person_on_both_counts_once(processes):
    first, second = processes
    assert await first.viewer_join(ROOM, "user:1") == 1
    assert await second.viewer_join(ROOM, "user:1") == 1  # a second tab, on the other process
    assert await second.viewer_join(ROOM, "anon:b") == 2
    assert (await first.room_enter(ROOM, "user:2", 2))["viewer_count"] == 3
    assert await first.viewer_count(ROOM) == await second.viewer_count(ROOM) == 3
    # A process takes off only sockets it counted: the first has no anon:b.
    assert await first.viewer_leave(ROOM, "anon:b") == 3
    assert await first.viewer_leave(ROOM, "user:1") == 3  # the second tab still counts
    assert await second.viewer_leave(ROOM, "user:1") == 2
    await beating(processes, 2.5 * TTL)  # counts stay exact while both live
    assert await first.viewer_counts([ROOM, OTHER_ROOM]) == [2, 0]
    assert await second.viewer_heartbeat() == {ROOM: 2}


@pytest.mark.redis
async def test_a_process_that_stops_beating_loses_its_viewers_after_the_ttl(processes):
    first, dead = processes
    await first.viewer_join(ROOM, "user:1")
    await first.viewer_join(OTHER_ROOM, "user:1")
    for viewer in ("user:1", "user:2", "user:2", "anon:d"):  # user 2: two tabs
        await dead.viewer_join(ROOM, viewer)
    assert await first.viewer_counts([ROOM, OTHER_ROOM]) == [3, 1]
    # The second process dies (no goodbyes): only the first one beats from now on.
    await beating([first], 0.5 * TTL)
    assert await first.viewer_count(ROOM) == 3  # not yet: it might only be slow
    await beating([first], 0.8 * TTL)
    assert await first.viewer_counts([ROOM, OTHER_ROOM]) == [1, 1]
    assert await first.viewer_heartbeat() == {ROOM: 1, OTHER_ROOM: 1}
    assert await first.viewer_join(ROOM, "user:2") == 2  # the count goes on from there
    assert await first.viewer_leave(ROOM, "user:1") == 1
    # Nothing of the dead process is left in Redis.
    keys = await first.redis.keys(f"{first.prefix}:*")
    assert not [key for key in keys if dead.process in key]
    assert await first.redis.zrange(first._key(ROOM, "viewer-procs"), 0, -1) == [first.process]


@pytest.mark.redis
async def test_viewer_keys_expire_by_themselves_once_no_process_beats(processes):
    first, second = processes
    await first.viewer_join(ROOM, "user:1")
    await second.viewer_join(ROOM, "anon:x")
    assert await first.redis.keys(f"{first.prefix}:*")
    await asyncio.sleep(2 * TTL + 0.3)  # everyone died
    assert await first.redis.keys(f"{first.prefix}:*") == []


@pytest.mark.redis
async def test_a_process_healed_away_while_alive_puts_its_viewers_back_at_its_next_beat(
    processes,
):
    """A process whose event loop stalled past the TTL is taken for dead, though its sockets
    are open: its next beat restores them (a join meanwhile does not hide the loss)."""
    stalled, other = processes
    for viewer in ("user:1", "user:1", "anon:s"):
        await stalled.viewer_join(ROOM, viewer)
    await other.viewer_join(ROOM, "user:9")
    await beating([other], 1.3 * TTL)
    assert await other.viewer_count(ROOM) == 1  # healed away
    assert await stalled.viewer_join(ROOM, "anon:new") == 2  # a join before the next beat
    assert await stalled.viewer_heartbeat() == {ROOM: 4}
    assert await other.viewer_count(ROOM) == 4
    # Its sockets count as they did: user 1's two tabs leave one by one.
    assert await stalled.viewer_leave(ROOM, "user:1") == 4
    assert await stalled.viewer_leave(ROOM, "user:1") == 3


# --- chat -------------------------------------------------------------------------------


async def test_chat_keeps_the_last_200_and_recent_answers_the_last_50_oldest_first(store):
    for number in range(CHAT_KEPT + 50):
        await store.chat_append(ROOM, message(number))
    recent = await store.chat_recent(ROOM, 50)
    assert [m["id"] for m in recent] == [f"m{n}" for n in range(200, 250)]
    assert await store.chat_recent(ROOM) == recent  # 50 is the default
    kept = await store.chat_recent(ROOM, 1000)
    assert len(kept) == CHAT_KEPT == 200
    assert kept[0]["id"] == "m50" and kept[-1]["id"] == "m249"
    assert await store.chat_recent(ROOM, 0) == []
    assert await store.chat_recent(OTHER_ROOM) == []


async def test_chat_messages_come_back_unchanged(store):
    sent = {
        "type": "chat-message",
        "id": "abc",
        "user": {"id": 3, "username": "zoë", "display_name": "Zoë <b>"},
        "text": "<script>alert(1)</script> ünïcode ✓",
        "sent_at": "2025-01-01T12:00:00+00:00",
    }
    await store.chat_append(ROOM, sent)
    assert await store.chat_recent(ROOM) == [sent]


async def post(store, user_id, number, *, staff=False, limit=5, window=10.0):
    return await store.chat_post(
        ROOM, user_id, message(number), limit=limit, window=window, staff=staff
    )


async def test_chat_post_keeps_accepted_lines_and_refuses_over_the_rate(store):
    for number in range(3):
        assert await post(store, 7, number, limit=3) == ("ok", 0)
    assert await post(store, 7, 3, limit=3) == ("rate_limited", 0)
    assert await post(store, 8, 4, limit=3) == ("ok", 0)  # another user has their own
    assert [m["id"] for m in await store.chat_recent(ROOM)] == ["m0", "m1", "m2", "m4"]


async def test_chat_post_refuses_banned_and_muted_users_and_keeps_nothing(store):
    await store.ban(ROOM, 7)
    await store.mute(ROOM, 8, 90)
    assert await post(store, 7, 1) == ("banned", 0)
    verdict, seconds = await post(store, 8, 2)
    assert verdict == "muted" and 89 <= seconds <= 90
    assert await store.chat_recent(ROOM) == []
    assert await post(store, 9, 3) == ("ok", 0)
    await store.ban(OTHER_ROOM, 9)  # a ban elsewhere changes nothing here
    assert await post(store, 9, 4) == ("ok", 0)


async def test_chat_post_applies_slow_mode_except_to_staff(store):
    await store.slow_mode_set(ROOM, 30)
    assert await post(store, 7, 1) == ("ok", 0)
    assert await post(store, 7, 2) == ("slow_mode", 30)
    assert await post(store, 8, 3) == ("ok", 0)  # each user waits on their own
    assert await post(store, 9, 4, staff=True) == ("ok", 0)
    assert await post(store, 9, 5, staff=True) == ("ok", 0)
    await store.slow_mode_set(ROOM, 0)
    assert await post(store, 7, 6) == ("ok", 0)
    assert [m["id"] for m in await store.chat_recent(ROOM)] == ["m1", "m3", "m4", "m5", "m6"]


async def test_a_refused_chat_line_does_not_count_against_the_rate(store):
    await store.slow_mode_set(ROOM, 1)
    assert await post(store, 7, 1, limit=2) == ("ok", 0)
    for number in range(2, 6):  # refused by slow mode: none of these count
        assert await post(store, 7, number, limit=2) == ("slow_mode", 1)
    await asyncio.sleep(1.1)
    assert await post(store, 7, 6, limit=2) == ("ok", 0)  # the second of two allowed


async def test_chat_delete_removes_only_that_message(store):
    for number in range(5):
        await store.chat_append(ROOM, message(number))
    assert await store.chat_delete(ROOM, "m2") is True
    assert [m["id"] for m in await store.chat_recent(ROOM)] == ["m0", "m1", "m3", "m4"]
    assert await store.chat_delete(ROOM, "m2") is False
    assert await store.chat_delete(ROOM, "nope") is False
    assert await store.chat_delete(OTHER_ROOM, "m1") is False
    assert len(await store.chat_recent(ROOM)) == 4


# --- queue ------------------------------------------------------------------------------


async def test_queue_keeps_arrival_order_without_duplicates(store):
    assert await store.queue_join(ROOM, user(10)) == 1
    assert await store.queue_join(ROOM, user(20)) == 2
    assert await store.queue_join(ROOM, user(30)) == 3
    # Joining again keeps the first place, and nobody appears twice.
    assert await store.queue_join(ROOM, user(10)) == 1
    assert await store.queue_join(ROOM, user(30)) == 3
    assert await store.queue_list(ROOM) == [user(10), user(20), user(30)]
    assert await store.queue_list(OTHER_ROOM) == []


async def test_queue_positions_accept_ids_as_numbers_or_strings(store):
    await store.queue_join(ROOM, user(10))
    await store.queue_join(ROOM, user(20))
    assert await store.queue_position(ROOM, 20) == 2
    assert await store.queue_position(ROOM, "20") == 2
    assert await store.queue_position(ROOM, 99) is None
    assert await store.queue_position(OTHER_ROOM, 10) is None


async def test_queue_leave_moves_the_others_up(store):
    for user_id in (10, 20, 30):
        await store.queue_join(ROOM, user(user_id))
    assert await store.queue_leave(ROOM, 20) is True
    assert await store.queue_leave(ROOM, "20") is False
    assert await store.queue_leave(ROOM, 99) is False
    assert await store.queue_position(ROOM, 30) == 2
    assert await store.queue_list(ROOM) == [user(10), user(30)]
    # Leaving and joining again puts you at the end.
    assert await store.queue_leave(ROOM, "10") is True
    assert await store.queue_join(ROOM, user(10)) == 2
    assert [u["id"] for u in await store.queue_list(ROOM)] == [30, 10]


async def test_queue_pop_admits_in_order_then_answers_none(store):
    for user_id in (10, 20, 30):
        await store.queue_join(ROOM, user(user_id))
    assert await store.queue_pop(ROOM) == user(10)
    assert await store.queue_position(ROOM, 20) == 1
    assert await store.queue_pop(ROOM) == user(20)
    assert await store.queue_pop(ROOM) == user(30)
    assert await store.queue_pop(ROOM) is None
    assert await store.queue_list(ROOM) == []
    # An admitted user may queue again, at the end.
    await store.queue_join(ROOM, user(40))
    assert await store.queue_join(ROOM, user(10)) == 2


async def test_fifty_users_joining_at_once_get_fifty_distinct_places(store):
    places = await asyncio.gather(*(store.queue_join(ROOM, user(n)) for n in range(1, 51)))
    assert sorted(places) == list(range(1, 51))
    queue = await store.queue_list(ROOM)
    assert len(queue) == 50 and len({u["id"] for u in queue}) == 50
    # Everyone's answer is their real place in the list.
    for user_id, place in zip(range(1, 51), places, strict=True):
        assert await store.queue_position(ROOM, user_id) == place


async def test_the_same_user_joining_many_times_at_once_is_queued_once(store):
    places = await asyncio.gather(*(store.queue_join(ROOM, user(7)) for _ in range(20)))
    assert set(places) == {1}
    assert await store.queue_list(ROOM) == [user(7)]


# --- spotlight --------------------------------------------------------------------------


async def test_room_state_reads_what_the_separate_calls_read(store):
    assert await store.room_state(ROOM, 7) == {
        "spotlight": None,
        "chat": [],
        "queue_position": None,
        "slow_mode": 0,
    }
    for number in range(60):
        await store.chat_append(ROOM, message(number))
    await store.spotlight_set(ROOM, {"id": 3, "name": "Silk scarf"})
    await store.queue_join(ROOM, user(5))
    await store.queue_join(ROOM, user(7))
    await store.slow_mode_set(ROOM, 30)
    state = await store.room_state(ROOM, 7)
    assert state["spotlight"] == {"id": 3, "name": "Silk scarf"}
    assert state["chat"] == await store.chat_recent(ROOM, 50)
    assert [m["id"] for m in state["chat"]][:2] == ["m10", "m11"]
    assert state["queue_position"] == 2 == await store.queue_position(ROOM, "7")
    assert state["slow_mode"] == 30
    assert (await store.room_state(ROOM, None))["queue_position"] is None  # anonymous
    assert (await store.room_state(ROOM, 9))["queue_position"] is None  # not queued
    assert (await store.room_state(ROOM, 7, 0))["chat"] == []
    assert (await store.room_state(OTHER_ROOM, 7))["spotlight"] is None


async def test_room_enter_does_what_the_separate_calls_do_in_one_go(store):
    for number in range(60):
        await store.chat_append(ROOM, message(number))
    await store.spotlight_set(ROOM, {"id": 3, "name": "Silk scarf"})
    await store.queue_join(ROOM, user(7))
    await store.slow_mode_set(ROOM, 30)
    await store.value_set("stream-status:1", "live")
    await store.viewer_join(ROOM, "user:5")
    entered = await store.room_enter(
        ROOM, "user:7", 7, seen="user:7", values=("stream-status:1", "never-set")
    )
    assert entered == {
        "viewer_count": 2,
        **await store.room_state(ROOM, 7),
        "values": ["live", None],
    }
    assert entered["queue_position"] == 1 and entered["slow_mode"] == 30
    assert [m["id"] for m in entered["chat"]][:2] == ["m10", "m11"]
    assert await store.viewers_seen([ROOM]) == [1]
    # The same viewer's second tab: one viewer, seen once.
    again = await store.room_enter(ROOM, "user:7", 7, seen="user:7")
    assert (again["viewer_count"], again["values"]) == (2, [])
    # Not recorded as seen (the host, or a room not live yet); an anonymous state, no chat.
    anon = await store.room_enter(ROOM, "anon:x", None, chat_limit=0)
    assert (anon["viewer_count"], anon["queue_position"], anon["chat"]) == (3, None, [])
    assert await store.viewers_seen([ROOM]) == [1]
    assert await store.viewer_leave(ROOM, "user:7") == 3  # one of its two sockets is left
    assert await store.viewer_count(OTHER_ROOM) == 0


async def test_room_enter_keeps_the_unique_viewers_alive_as_viewer_seen_does(store):
    store.seen_ttl = 1.0
    await store.room_enter(ROOM, "user:1", 1, seen="user:1")
    await asyncio.sleep(0.6)
    await store.room_enter(ROOM, "user:2", 2, seen="user:2")
    await asyncio.sleep(0.6)
    assert await store.viewers_seen([ROOM]) == [2]
    await asyncio.sleep(0.6)
    assert await store.viewers_seen([ROOM]) == [0]


async def test_spotlight_set_and_clear(store):
    assert await store.spotlight_get(ROOM) is None
    product = {"id": 5, "name": "Silk scarf", "price": "59.00", "currency": "EUR", "stock": 3}
    await store.spotlight_set(ROOM, product)
    assert await store.spotlight_get(ROOM) == product
    assert await store.spotlight_get(OTHER_ROOM) is None
    await store.spotlight_set(ROOM, None)
    assert await store.spotlight_get(ROOM) is None


# --- moderation -------------------------------------------------------------------------


async def test_mute_lasts_its_time_then_expires(store):
    assert await store.muted_for(ROOM, 7) == 0
    await store.mute(ROOM, 7, 1)
    assert await store.muted_for(ROOM, 7) == 1
    assert await store.muted_for(ROOM, "7") == 1
    assert await store.muted_for(ROOM, 8) == 0
    assert await store.muted_for(OTHER_ROOM, 7) == 0
    # 0 means "may chat": a mute still running must never answer 0, even near its end.
    await asyncio.sleep(0.7)
    assert await store.muted_for(ROOM, 7) == 1
    await asyncio.sleep(0.4)
    assert await store.muted_for(ROOM, 7) == 0


async def test_long_mute_reports_seconds_left(store):
    await store.mute(ROOM, 7, 600)
    assert 599 <= await store.muted_for(ROOM, 7) <= 600


async def test_ban(store):
    assert await store.is_banned(ROOM, 7) is False
    await store.ban(ROOM, 7)
    assert await store.is_banned(ROOM, 7) is True
    assert await store.is_banned(ROOM, "7") is True
    assert await store.is_banned(ROOM, 8) is False
    assert await store.is_banned(OTHER_ROOM, 7) is False
    await store.ban(ROOM, "7")  # banning twice is harmless
    assert await store.is_banned(ROOM, 7) is True


async def test_slow_mode(store):
    assert await store.slow_mode_get(ROOM) == 0
    await store.slow_mode_set(ROOM, 30)
    assert await store.slow_mode_get(ROOM) == 30
    assert await store.slow_mode_get(OTHER_ROOM) == 0
    await store.slow_mode_set(ROOM, 5)
    assert await store.slow_mode_get(ROOM) == 5
    await store.slow_mode_set(ROOM, 0)
    assert await store.slow_mode_get(ROOM) == 0


# --- primitives -------------------------------------------------------------------------


async def test_hit_is_a_sliding_window(store):
    assert [await store.hit("k", limit=3, window=0.5) for _ in range(3)] == [True] * 3
    assert await store.hit("k", limit=3, window=0.5) is False
    assert await store.hit("other", limit=3, window=0.5) is True
    await asyncio.sleep(0.6)
    assert await store.hit("k", limit=3, window=0.5) is True


async def test_hit_window_slides_instead_of_resetting(store):
    assert await store.hit("k", limit=2, window=0.4)
    await asyncio.sleep(0.25)
    assert await store.hit("k", limit=2, window=0.4)
    assert not await store.hit("k", limit=2, window=0.4)
    await asyncio.sleep(0.2)  # the first hit left the window, the second did not
    assert await store.hit("k", limit=2, window=0.4)
    assert not await store.hit("k", limit=2, window=0.4)


async def test_concurrent_hits_allow_exactly_the_limit(store):
    allowed = await asyncio.gather(*(store.hit("k", limit=5, window=5) for _ in range(30)))
    assert allowed.count(True) == 5


async def test_acquire_and_release(store):
    assert await store.acquire("lock", ttl=5) is True
    assert await store.acquire("lock", ttl=5) is False
    assert await store.acquire("other-lock", ttl=5) is True
    await store.release("lock")
    assert await store.acquire("lock", ttl=5) is True
    await store.release("never-taken")  # harmless


async def test_a_lock_expires_by_itself(store):
    assert await store.acquire("lock", ttl=0.3) is True
    assert await store.acquire("lock", ttl=0.3) is False
    await asyncio.sleep(0.4)
    assert await store.acquire("lock", ttl=0.3) is True


async def test_extending_a_held_lock_keeps_others_out_past_its_first_expiry(store):
    assert await store.acquire("lock", ttl=0.3) is True
    await asyncio.sleep(0.2)
    await store.extend("lock", ttl=0.5)
    await asyncio.sleep(0.2)  # past the first expiry, within the extension
    assert await store.acquire("lock", ttl=0.3) is False
    await store.extend("never-taken", ttl=5)  # extends nothing
    assert await store.acquire("never-taken", ttl=0.3) is True


async def test_only_one_of_many_concurrent_acquirers_gets_the_lock(store):
    results = await asyncio.gather(*(store.acquire("lock", ttl=5) for _ in range(20)))
    assert results.count(True) == 1


async def test_value_set_and_get(store):
    assert await store.value_get("v") is None
    await store.value_set("v", "one")
    assert await store.value_get("v") == "one"
    await store.value_set("v", "two")
    assert await store.value_get("v") == "two"
    await store.value_set("short", "x", ttl=0.3)
    assert await store.value_get("short") == "x"
    await asyncio.sleep(0.4)
    assert await store.value_get("short") is None
    assert await store.value_get("v") == "two"  # no ttl: kept


async def test_value_claim_has_one_owner_among_concurrent_claimers(store):
    held = await asyncio.gather(*(store.value_claim("unit", f"p{i}", ttl=5) for i in range(10)))
    assert len(set(held)) == 1  # every claimer is told the same owner
    assert await store.value_get("unit") == held[0]


async def test_value_claim_is_free_again_once_expired(store):
    assert await store.value_claim("unit", "a", ttl=0.2) == "a"
    assert await store.value_claim("unit", "b", ttl=0.2) == "a"
    await asyncio.sleep(0.3)
    assert await store.value_claim("unit", "b", ttl=5) == "b"


async def test_value_refresh_only_keeps_the_owners_claim(store):
    await store.value_claim("unit", "a", ttl=0.3)
    assert await store.value_refresh("unit", "a", ttl=5)
    assert not await store.value_refresh("unit", "b", ttl=5)
    await asyncio.sleep(0.4)
    assert await store.value_get("unit") == "a"  # refreshed past the first expiry
    await store.value_delete("unit")
    assert not await store.value_refresh("unit", "a", ttl=5)  # gone: not re-created


async def test_value_delete_only_if_it_still_holds_that_value(store):
    await store.value_set("unit", "b")
    await store.value_delete("unit", only_if="a")
    assert await store.value_get("unit") == "b"
    await store.value_delete("unit", only_if="b")
    assert await store.value_get("unit") is None


async def test_clear_forgets_everything(store):
    await store.viewer_join(ROOM, "user:1")
    await store.chat_append(ROOM, message(1))
    await store.queue_join(ROOM, user(1))
    await store.spotlight_set(ROOM, {"id": 1})
    await store.mute(ROOM, 1, 60)
    await store.ban(ROOM, 1)
    await store.slow_mode_set(ROOM, 10)
    await store.acquire("lock", ttl=60)
    await store.value_set("v", "x")
    await store.hit("k", limit=1, window=60)
    await store.clear()
    assert await store.viewer_count(ROOM) == 0
    assert await store.chat_recent(ROOM) == []
    assert await store.queue_list(ROOM) == []
    assert await store.spotlight_get(ROOM) is None
    assert await store.muted_for(ROOM, 1) == 0
    assert await store.is_banned(ROOM, 1) is False
    assert await store.slow_mode_get(ROOM) == 0
    assert await store.acquire("lock", ttl=60) is True
    assert await store.value_get("v") is None
    assert await store.hit("k", limit=1, window=60) is True


async def test_sync_callers_on_another_thread_share_the_state(store):
    """Services behind the REST API reach the store through async_to_sync, on a thread with
    an event loop of its own."""
    await store.spotlight_set(ROOM, {"id": 1})
    seen: list = []

    def sync_caller() -> None:
        seen.append(async_to_sync(store.spotlight_get)(ROOM))
        async_to_sync(store.queue_join)(ROOM, user(9))

    thread = threading.Thread(target=sync_caller)
    thread.start()
    started = time.monotonic()
    while thread.is_alive() and time.monotonic() - started < 5:
        await asyncio.sleep(0.01)
    assert not thread.is_alive()
    assert seen == [{"id": 1}]
    assert await store.queue_list(ROOM) == [user(9)]


@pytest.mark.redis
async def test_redis_stores_with_different_prefixes_do_not_see_each_other(redis_url):
    first = RedisRoomStore(redis_url, prefix=f"test-store:{uuid.uuid4().hex}")
    second = RedisRoomStore(redis_url, prefix=f"test-store:{uuid.uuid4().hex}")
    try:
        await first.viewer_join(ROOM, "user:1")
        await first.value_set("v", "x")
        assert await second.viewer_count(ROOM) == 0
        assert await second.value_get("v") is None
        await second.clear()
        assert await first.viewer_count(ROOM) == 1
    finally:
        await first.clear()
        await second.clear()
        await first.redis.aclose()
        await second.redis.aclose()
