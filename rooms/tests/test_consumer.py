"""The room socket: handshake (origin, JWT, session), room-state, roles, viewer counts,
presence, leaving, the room lifecycle and reserved event names.

Chat is in test_consumer_chat.py, spotlight/queue/moderation in test_consumer_actions.py,
malformed input in test_consumer_frames.py, the same over Redis in test_consumer_redis.py."""

import asyncio
import base64
import json
from datetime import timedelta

import jwt
import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services as account_services
from accounts.tokens import RevocableRefreshToken
from rooms import consumers, events, services
from rooms.models import ShoppingRoom

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)


def summary(user) -> dict:
    return {"id": user.pk, "username": user.username, "display_name": user.public_name}


@pytest.fixture
async def live_room(make_room):
    return await sync_to_async(make_room)(live=True)


@pytest.fixture
def staff(db):
    return account_services.staff_user_create(
        username="stella_staff", email="stella@example.test", password="correct-horse-42"
    )


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


# --- room-state -------------------------------------------------------------------------


async def test_first_message_is_the_room_state(live_room, seller, open_socket):
    socket = await open_socket(live_room, seller)
    state = socket.state
    assert set(state) >= {
        "type",
        "room",
        "viewer_count",
        "spotlight",
        "chat",
        "queue_position",
        "you",
        "slow_mode",
    }
    assert state["room"] == {
        "id": live_room.pk,
        "title": "Evening show",
        "status": "live",
        "seller": summary(seller),
    }
    assert state["viewer_count"] == 1
    assert state["spotlight"] is None
    assert state["chat"] == []
    assert state["queue_position"] is None
    assert state["slow_mode"] == 0
    assert state["you"] == {"id": seller.pk, "username": seller.username, "role": "seller"}


async def test_scheduled_room_state_says_scheduled(make_room, buyer, open_socket):
    room = await sync_to_async(make_room)()
    socket = await open_socket(room, buyer)
    assert socket.state["room"]["status"] == "scheduled"


async def test_join_room_frame_sends_the_state_again(live_room, buyer, open_socket):
    socket = await open_socket(live_room, buyer)
    await socket.send({"type": "join-room"})
    again = await socket.expect("room-state")
    assert again["you"] == socket.state["you"]
    assert again["room"] == socket.state["room"]
    assert again["viewer_count"] == 1


async def test_resyncs_are_limited_per_socket(live_room, buyer, open_socket):
    # Each join-room answers a whole room-state: a flood of them would amplify a tiny frame
    # into a database query and tens of KB per frame.
    socket = await open_socket(live_room, buyer)
    for _ in range(3):
        await socket.send({"type": "join-room"})
        await socket.expect("room-state")
    await socket.send({"type": "join-room"})
    await socket.expect_error("rate_limited")
    await socket.nothing("room-state")
    other_tab = await open_socket(live_room, buyer)  # another socket has its own allowance
    await other_tab.send({"type": "join-room"})
    await other_tab.expect("room-state")


# --- handshake: who may connect ---------------------------------------------------------


async def test_website_session_cookie_with_allowed_origin(live_room, buyer, open_socket):
    socket = await open_socket(live_room, buyer, via="session")
    assert socket.state["you"] == {"id": buyer.pk, "username": buyer.username, "role": "buyer"}


async def test_mobile_bearer_token_needs_no_origin(live_room, buyer, open_socket):
    socket = await open_socket(live_room, buyer, origin=None)
    assert socket.state["you"]["role"] == "buyer"
    assert socket.state["you"]["id"] == buyer.pk


async def test_the_auth_scheme_name_is_case_insensitive(live_room, buyer, open_socket):
    token = await sync_to_async(lambda: str(RevocableRefreshToken.for_user(buyer).access_token))()
    socket = await open_socket(
        live_room, origin=None, headers=[(b"authorization", f"bearer {token}".encode())]
    )
    assert socket.state["you"]["id"] == buyer.pk


async def test_anonymous_visitor_may_watch(live_room, open_socket):
    socket = await open_socket(live_room)
    assert socket.state["you"] == {"id": None, "username": None, "role": "anonymous"}
    assert socket.state["queue_position"] is None


@pytest.mark.parametrize(
    "origin",
    [b"http://evil.example", b"null", b"https://testserver.evil.example", b"file://", b"junk"],
)
async def test_foreign_origins_are_refused(live_room, buyer, refused, origin):
    assert await refused(live_room, buyer, via="session", origin=origin)
    assert await refused(live_room, origin=origin)  # anonymous
    assert await refused(live_room, buyer, origin=origin)  # even with a valid token


async def test_allowed_origin_variants_are_accepted(live_room, buyer, open_socket):
    for origin in (b"http://localhost:8000", b"https://testserver", b"http://127.0.0.1:8000"):
        socket = await open_socket(live_room, buyer, via="session", origin=origin)
        assert socket.state["you"]["role"] == "buyer"


async def test_session_cookie_without_origin_is_refused(live_room, buyer, refused):
    assert await refused(live_room, buyer, via="session", origin=None)


async def test_no_origin_and_no_token_is_refused(live_room, refused):
    assert await refused(live_room, origin=None)


async def test_unknown_room_is_refused(live_room, buyer, refused):
    missing = ShoppingRoom(pk=live_room.pk + 1000)
    assert await refused(missing, buyer)
    assert await refused(missing)


def _forged(user, **claims) -> str:
    """A valid access token whose payload was edited without re-signing it."""
    header, payload, signature = str(AccessToken.for_user(user)).split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    edited = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{edited}.{signature}"


async def test_bad_tokens_are_refused_at_the_handshake(live_room, buyer, seller, refused):
    def tokens() -> dict[str, str]:
        expired = AccessToken.for_user(buyer)
        expired.set_exp(lifetime=-timedelta(seconds=1))
        payload = dict(AccessToken.for_user(buyer).payload)
        return {
            "garbage": "not-a-token",
            "expired": str(expired),
            "tampered": _forged(buyer, user_id=seller.pk),
            "refresh as access": str(RevocableRefreshToken.for_user(buyer)),
            "other key": jwt.encode(
                payload, "not-the-signing-key-of-this-site-" * 2, algorithm="HS256"
            ),
            "alg none": jwt.encode(payload, None, algorithm="none"),
            "empty": "",
        }

    for name, token in (await sync_to_async(tokens)()).items():
        code = await refused(live_room, headers=bearer(token), origin=None)
        assert code, name
        # A browser origin does not rescue a bad token either.
        assert await refused(live_room, headers=bearer(token)), name


async def test_other_authorization_schemes_are_refused(live_room, refused):
    basic = [(b"authorization", b"Basic " + base64.b64encode(b"bella_buyer:correct-horse-42"))]
    assert await refused(live_room, headers=basic)
    assert await refused(live_room, headers=[(b"authorization", b"Token abc")], origin=None)


async def test_token_of_a_deactivated_user_is_refused(live_room, make_user, refused):
    user = await sync_to_async(make_user)("gone_user")
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    await sync_to_async(type(user).objects.filter(pk=user.pk).update)(is_active=False)
    assert await refused(live_room, headers=bearer(token), origin=None)


# --- roles ------------------------------------------------------------------------------


async def test_roles(make_room, seller, buyer, other_seller, staff, make_user, open_socket):
    moderator = await sync_to_async(make_user)("mona_mod")
    room = await sync_to_async(make_room)(live=True, moderators=[moderator])
    expected = {
        seller: "seller",
        buyer: "buyer",
        other_seller: "buyer",  # a seller elsewhere is a shopper here
        moderator: "moderator",
        staff: "moderator",
    }
    for user, role in expected.items():
        socket = await open_socket(room, user)
        assert socket.state["you"] == {"id": user.pk, "username": user.username, "role": role}


async def test_another_seller_cannot_run_someone_elses_room(
    live_room, other_seller, buyer, make_product, open_socket
):
    product = await sync_to_async(make_product)(seller=other_seller, name="Own product")
    viewer = await open_socket(live_room, buyer)
    intruder = await open_socket(live_room, other_seller)
    for frame in [
        {"type": "spotlight-product", "product_id": product.pk},
        {"type": "spotlight-product", "product_id": None},
        {"type": "queue-admit-next"},
        {"type": "slow-mode", "seconds": 5},
        {"type": "mute-user", "user_id": buyer.pk, "minutes": 5},
        {"type": "ban-user", "user_id": buyer.pk},
        {"type": "delete-message", "message_id": "0" * 32},
    ]:
        await intruder.send(frame)
        await intruder.expect_error("permission_denied")
    await viewer.nothing("spotlight-product", "slow-mode", "muted", "error", "websocket.close")
    # ...but may chat like any shopper.
    await intruder.chat("hello from a fellow seller")
    await viewer.expect("chat-message", text="hello from a fellow seller")


# --- viewer counts ----------------------------------------------------------------------


async def test_one_user_with_two_tabs_counts_once(live_room, buyer, open_socket):
    first = await open_socket(live_room, buyer)
    second = await open_socket(live_room, buyer, via="session")
    assert first.state["viewer_count"] == 1
    assert second.state["viewer_count"] == 1
    await first.expect("viewer-count", count=1)
    await first.nothing("viewer-count")  # the second tab changed nothing
    await second.disconnect()
    await first.nothing("viewer-count")
    assert first.state["viewer_count"] == 1


async def test_two_anonymous_sockets_count_twice(live_room, open_socket):
    first = await open_socket(live_room)
    second = await open_socket(live_room)
    assert second.state["viewer_count"] == 2
    await first.expect("viewer-count", count=2)
    await second.expect("viewer-count", count=2)


async def test_viewer_count_follows_joins_and_leaves(live_room, seller, buyer, open_socket):
    watcher = await open_socket(live_room, seller)
    await watcher.expect("viewer-count", count=1)
    viewer = await open_socket(live_room, buyer)
    await watcher.expect("viewer-count", count=2)
    anonymous = await open_socket(live_room)
    await watcher.expect("viewer-count", count=3)
    await viewer.disconnect()
    await watcher.expect("viewer-count", count=2)
    await anonymous.disconnect()
    await watcher.expect("viewer-count", count=1)
    # The room remembers its biggest audience.
    room = await sync_to_async(ShoppingRoom.objects.get)(pk=live_room.pk)
    assert room.peak_viewers == 3


async def test_viewer_counts_are_coalesced_to_two_a_second(
    live_room, seller, room_socket, open_socket, monkeypatch
):
    monkeypatch.setattr(consumers, "VIEWER_COUNT_INTERVAL", 0.5)  # the real pace
    watcher = await open_socket(live_room, seller)
    await watcher.expect("viewer-count", count=1)
    joiners = [await room_socket(live_room) for _ in range(8)]
    results = await asyncio.gather(*(c.connect(timeout=3) for c in joiners))
    try:
        assert all(connected for connected, _ in results)
        await watcher.expect("viewer-count", count=9, timeout=3)
        counts = [m for m in await watcher.collect(1.2) if m["type"] == "viewer-count"]
        seen = [m for m in watcher.received if m["type"] == "viewer-count"]
        # Far fewer than one per joiner: the 8 joins take well under a second.
        assert len(seen) - 1 <= 4, seen
        assert not counts or counts[-1]["count"] == 9
        gaps = [b["_at"] - a["_at"] for a, b in zip(seen, seen[1:], strict=False)]
        assert all(gap >= 0.4 for gap in gaps), gaps
    finally:
        for communicator in joiners:
            await communicator.disconnect(timeout=3)
    await watcher.expect("viewer-count", count=1, timeout=3)
    seen = [m for m in watcher.received if m["type"] == "viewer-count"]
    assert len(seen) < 1 + 8 + 8
    assert seen[-1]["count"] == 1


# --- presence ---------------------------------------------------------------------------


async def test_presence_goes_to_the_seller_only(make_room, seller, buyer, make_user, open_socket):
    room = await sync_to_async(make_room)(live=True)
    other = await sync_to_async(make_user)("otto_other")
    seller_tab_1 = await open_socket(room, seller)
    seller_tab_2 = await open_socket(room, seller, via="session")
    bystander = await open_socket(room, other)
    anonymous = await open_socket(room)
    for tab in (seller_tab_1, seller_tab_2):
        joined = await tab.expect("join-room", user=summary(other))
        assert set(joined) == {"type", "user", "_at"}

    viewer = await open_socket(room, buyer)
    for tab in (seller_tab_1, seller_tab_2):
        await tab.expect("join-room", user=summary(buyer))
    await viewer.disconnect()
    for tab in (seller_tab_1, seller_tab_2):
        await tab.expect("leave-room", user=summary(buyer))

    for socket in (bystander, anonymous):
        await socket.nothing("join-room", "leave-room")
    # The seller's own tabs are not announced to the seller.
    seller_users = [m["user"]["id"] for m in seller_tab_1.received if m["type"] == "join-room"]
    assert seller.pk not in seller_users


# --- leaving ----------------------------------------------------------------------------


async def test_leave_room_closes_the_socket_and_the_count_drops(
    live_room, seller, buyer, open_socket
):
    watcher = await open_socket(live_room, seller)
    leaver = await open_socket(live_room, buyer)
    await watcher.expect("viewer-count", count=2)
    await leaver.send({"type": "leave-room"})
    assert await leaver.expect_close() == 1000
    await leaver.disconnect()  # the server's transport reports the closed socket
    await watcher.expect("viewer-count", count=1)
    await watcher.expect("leave-room", user=summary(buyer))


async def test_dropped_connection_counts_as_leaving(live_room, seller, open_socket):
    watcher = await open_socket(live_room, seller)
    anonymous = await open_socket(live_room)
    await watcher.expect("viewer-count", count=2)
    await anonymous.disconnect()
    await watcher.expect("viewer-count", count=1)


# --- room lifecycle ---------------------------------------------------------------------


async def test_room_status_reaches_every_socket(make_room, seller, buyer, open_socket):
    room = await sync_to_async(make_room)()
    seller_socket = await open_socket(room, seller)
    buyer_socket = await open_socket(room, buyer)
    anonymous = await open_socket(room)
    await buyer_socket.chat("before the show")  # a scheduled room is open for chat

    room = await sync_to_async(services.room_go_live)(room=room, actor=seller)
    for socket in (seller_socket, buyer_socket, anonymous):
        assert set(await socket.expect("room-status", status="live")) == {"type", "status", "_at"}
    await buyer_socket.chat("it's live")

    await sync_to_async(services.room_end)(room=room, actor=seller)
    for socket in (seller_socket, buyer_socket, anonymous):
        await socket.expect("room-status", status="ended")

    # After the end, chat and the queue are closed.
    await anonymous.collect()
    await buyer_socket.send({"type": "chat-message", "text": "too late"})
    await buyer_socket.expect_error("room_ended")
    await buyer_socket.send({"type": "join-queue"})
    await buyer_socket.expect_error("room_ended")
    await seller_socket.send({"type": "chat-message", "text": "thanks all"})
    await seller_socket.expect_error("room_ended")
    await seller_socket.send({"type": "queue-admit-next"})
    await seller_socket.expect_error("room_ended")
    await anonymous.nothing("chat-message")


async def test_a_rolled_back_transition_is_not_announced(make_room, seller, open_socket):
    room = await sync_to_async(make_room)()
    socket = await open_socket(room, seller)

    def go_live_then_fail() -> None:
        from django.db import transaction

        with pytest.raises(RuntimeError), transaction.atomic():
            services.room_go_live(room=room, actor=seller)
            raise RuntimeError("rolled back")

    await sync_to_async(go_live_then_fail)()
    await socket.nothing("room-status")


async def test_joining_an_ended_room(make_room, seller, buyer, open_socket):
    room = await sync_to_async(make_room)(live=True)
    await sync_to_async(services.room_end)(room=room, actor=seller)
    socket = await open_socket(room, buyer)
    assert socket.state["room"]["status"] == "ended"
    await socket.send({"type": "chat-message", "text": "hello?"})
    await socket.expect_error("room_ended")
    await socket.send({"type": "join-queue"})
    await socket.expect_error("room_ended")


async def test_a_change_during_the_announcers_last_check_is_still_announced(
    live_room, open_socket, monkeypatch
):
    """With the Redis store every store call yields, so another socket (or process) can join
    between the announcer's last "nothing changed" check and its releasing the lock; that
    joiner's own announcer finds the lock taken and leaves. The count must still go out."""
    from rooms.store import get_store

    watcher = await open_socket(live_room)
    await watcher.expect("viewer-count", count=1)
    while events.background_tasks:  # the watcher's own announcer is done
        await asyncio.wait(set(events.background_tasks), timeout=2)
    store = get_store()
    room_id = str(live_room.pk)
    real_value_get = store.value_get
    raced = []

    async def value_get_with_a_join_in_between(key):
        value = await real_value_get(key)
        if key == f"viewer-count-sent:{room_id}" and not raced:
            raced.append(key)
            await store.viewer_join(room_id, "anon:late-joiner")
            await consumers.announce_viewer_count(room_id)  # finds the lock taken
        return value

    monkeypatch.setattr(store, "value_get", value_get_with_a_join_in_between)
    await consumers.announce_viewer_count(room_id)
    assert raced
    await watcher.expect("viewer-count", count=2, timeout=1)
    await store.viewer_leave(room_id, "anon:late-joiner")
