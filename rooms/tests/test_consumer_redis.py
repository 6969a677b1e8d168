"""The room socket over what production runs: the Redis channel layer and RedisRoomStore on a
real redis-server. A representative part of the socket tests runs again here, unchanged."""

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

from rooms import hub as room_hub
from rooms import store as room_store
from rooms.store import RedisRoomStore
from rooms.tests import (
    socket_helpers,
    test_consumer,
    test_consumer_actions,
    test_consumer_chat,
    test_consumer_frames,
    test_hub,
)

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

# Fixtures the borrowed tests ask for (a live room with two products, and some people).
products = test_consumer_actions.products
live_room = test_consumer_actions.live_room
moderator = test_consumer_actions.moderator
moderated_room = test_consumer_actions.moderated_room
shopper = test_consumer_actions.shopper
room_with_two = test_consumer_frames.room_with_two
shopper_socket_factory = test_consumer_frames.shopper_socket_factory
long_tick = test_hub.long_tick


@pytest.fixture(autouse=True)
async def redis_everywhere(settings, redis_url, monkeypatch):
    """Switch this test to the Redis channel layer and store; switch back afterwards."""
    async with socket_helpers.redis_everywhere(settings, redis_url, monkeypatch) as store:
        yield store
    assert not isinstance(room_store.get_store(), RedisRoomStore)  # switched back


async def test_the_socket_really_runs_on_redis(live_room, seller, open_socket, redis_everywhere):
    socket = await open_socket(live_room, seller)
    assert isinstance(get_channel_layer(), RedisChannelLayer)
    assert await redis_everywhere.viewer_count(str(live_room.pk)) == 1
    await socket.chat("stored in redis")
    chat = await redis_everywhere.chat_recent(str(live_room.pk))
    assert [m["text"] for m in chat] == ["stored in redis"]


# Chat between users, persistence, late joiners, rate limit, delete, mute, slow mode.
test_chat_message_reaches_everyone_in_the_room = (
    test_consumer_chat.test_chat_message_reaches_everyone_in_the_room
)
test_chat_is_saved_to_the_database = test_consumer_chat.test_chat_is_saved_to_the_database
test_late_joiner_gets_the_last_50_messages_oldest_first = (
    test_consumer_chat.test_late_joiner_gets_the_last_50_messages_oldest_first
)
test_sixth_message_within_ten_seconds_is_refused = (
    test_consumer_chat.test_sixth_message_within_ten_seconds_is_refused
)
test_seller_deletes_a_message_everywhere = (
    test_consumer_chat.test_seller_deletes_a_message_everywhere
)
test_muted_user_cannot_chat = test_consumer_chat.test_muted_user_cannot_chat
test_slow_mode = test_consumer_chat.test_slow_mode

# Viewers, presence and the room lifecycle.
test_one_user_with_two_tabs_counts_once = test_consumer.test_one_user_with_two_tabs_counts_once
test_viewer_count_follows_joins_and_leaves = (
    test_consumer.test_viewer_count_follows_joins_and_leaves
)
test_viewer_counts_are_coalesced_to_two_a_second = (
    test_consumer.test_viewer_counts_are_coalesced_to_two_a_second
)
test_a_change_during_the_announcers_last_check_is_still_announced = (
    test_consumer.test_a_change_during_the_announcers_last_check_is_still_announced
)
test_presence_goes_to_the_seller_only = test_consumer.test_presence_goes_to_the_seller_only
test_room_status_reaches_every_socket = test_consumer.test_room_status_reaches_every_socket

# Spotlight, queue, ban.
test_seller_spotlights_a_product_for_everyone = (
    test_consumer_actions.test_seller_spotlights_a_product_for_everyone
)
test_queue_join_leave_and_admit = test_consumer_actions.test_queue_join_leave_and_admit
test_joining_the_queue_twice_keeps_one_place = (
    test_consumer_actions.test_joining_the_queue_twice_keeps_one_place
)
test_banned_user_is_thrown_out_and_cannot_come_back = (
    test_consumer_actions.test_banned_user_is_thrown_out_and_cannot_come_back
)
test_moderator_bans_but_not_the_seller_nor_themselves = (
    test_consumer_actions.test_moderator_bans_but_not_the_seller_nor_themselves
)

# State on connect, and garbage.
test_first_message_is_the_room_state = test_consumer.test_first_message_is_the_room_state
test_ten_malformed_frames_disconnect_the_client = (
    test_consumer_frames.test_ten_malformed_frames_disconnect_the_client
)

# The room hub: chat ticks, order, and one subscription per process and room.
test_a_batching_socket_gets_a_ticks_lines_in_one_frame_in_order = (
    test_hub.test_a_batching_socket_gets_a_ticks_lines_in_one_frame_in_order
)
test_a_line_deleted_within_its_tick_still_comes_before_its_deletion = (
    test_hub.test_a_line_deleted_within_its_tick_still_comes_before_its_deletion
)
test_events_sent_while_a_socket_connects_come_after_its_room_state = (
    test_hub.test_events_sent_while_a_socket_connects_come_after_its_room_state
)


async def _subscribers(store, room) -> int:
    channel = f"{store.prefix}:hub:{room.pk}"
    return dict(await store.redis.pubsub_numsub(channel))[channel]


async def test_a_process_subscribes_once_per_room_however_many_sockets(
    live_room, seller, shopper, open_socket, redis_everywhere
):
    sockets = [await open_socket(live_room, seller), await open_socket(live_room, shopper)]
    sockets += [await open_socket(live_room, label=f"viewer {n}") for n in range(5)]
    assert await _subscribers(redis_everywhere, live_room) == 1
    await sockets[1].send(
        {"type": "chat-message", "text": "one copy from Redis, seven on the sockets"}
    )
    for socket in sockets:
        await socket.expect("chat-message", text="one copy from Redis, seven on the sockets")
    for socket in sockets:
        await socket.disconnect()
    assert await _subscribers(redis_everywhere, live_room) == 0  # the room is let go


async def test_sockets_are_closed_to_resync_when_the_subscription_is_lost(
    live_room, shopper, open_socket, redis_everywhere
):
    viewer = await open_socket(live_room, label="viewer")
    sender = await open_socket(live_room, shopper)
    # Redis drops the subscriber (as it does when one falls too far behind): events
    # published meanwhile would be lost, so the sockets are told to reconnect instead.
    await redis_everywhere.redis.client_kill_filter(_type="pubsub")
    assert await viewer.expect_close() == room_hub.CLOSE_SUBSCRIPTION_LOST
    assert await sender.expect_close() == room_hub.CLOSE_SUBSCRIPTION_LOST
    # A new socket subscribes afresh and hears the room again.
    again = await open_socket(live_room, label="reconnected")
    talker = await open_socket(live_room, shopper, label="shopper again")
    await talker.chat("back")
    await again.expect("chat-message", text="back")


async def test_a_dead_processs_viewers_are_healed_away_and_the_room_is_told(
    live_room, seller, open_socket, redis_everywhere, redis_url
):
    """Another server process counted two viewers and died without a word (its store here,
    on the same Redis, just stops): this process's heartbeat heals them away within the TTL
    (60 s in production) and the room hears the new count."""
    redis_everywhere.viewer_ttl = 0.6  # the hub beats every 0.2 s
    dead = RedisRoomStore(redis_url, prefix=redis_everywhere.prefix, viewer_ttl=0.6)
    try:
        await dead.viewer_join(str(live_room.pk), "anon:ghost")
        await dead.viewer_join(str(live_room.pk), "user:ghost")
        socket = await open_socket(live_room, seller)
        assert socket.state["viewer_count"] == 3
        healed = await socket.expect("viewer-count", count=1, timeout=2)
        assert healed["_at"] - socket.received[0]["_at"] < 1.5
        assert await redis_everywhere.viewer_count(str(live_room.pk)) == 1
    finally:
        await dead.redis.aclose()
