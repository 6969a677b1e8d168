"""Whatever a client sends, the room socket answers with an error and carries on; only a
client that keeps sending malformed frames is disconnected (close code 4400)."""

import json

import pytest
from asgiref.sync import sync_to_async

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def live_room(make_room):
    return await sync_to_async(make_room)(live=True)


@pytest.fixture
async def room_with_two(live_room, seller, buyer, open_socket):
    """A live room with the seller watching and a buyer who misbehaves."""
    return live_room, await open_socket(live_room, seller), await open_socket(live_room, buyer)


MALFORMED = [
    ("text", "hello {", "invalid_json"),
    ("text", "", "invalid_json"),
    ("text", "{'type': 'chat-message'}", "invalid_json"),
    ("text", '{"type": "chat-message", "text": "hi"', "invalid_json"),
    ("text", "NaN-ish garbage \x00\xff", "invalid_json"),
    ("text", "[" * 5000 + "]" * 5000, "invalid_json"),  # nesting deeper than the parser goes
    ("text", '["chat-message", "hi"]', "invalid_frame"),
    ("text", "null", "invalid_frame"),
    ("text", "42", "invalid_frame"),
    ("text", '"chat-message"', "invalid_frame"),
    ("text", "{}", "invalid_frame"),
    ("text", '{"text": "no type"}', "invalid_frame"),
    ("text", '{"type": 5}', "invalid_frame"),
    ("text", '{"type": null}', "invalid_frame"),
    ("text", '{"type": ["chat-message"]}', "invalid_frame"),
    ("bytes", b'{"type": "chat-message", "text": "hi"}', "invalid_frame"),
    ("bytes", b"\x00\x01\x02", "invalid_frame"),
    ("text", json.dumps({"type": "chat-message", "text": "x" * 17 * 1024}), "frame_too_large"),
]


@pytest.mark.parametrize(
    ("kind", "data", "code"),
    MALFORMED,
    ids=[f"{code}-{n}" for n, (_, _, code) in enumerate(MALFORMED)],
)
async def test_malformed_frame_gets_an_error_and_the_socket_lives_on(
    room_with_two, kind, data, code
):
    _, seller_socket, buyer_socket = room_with_two
    if kind == "text":
        await buyer_socket.send_text(data)
    else:
        await buyer_socket.send_bytes(data)
    await buyer_socket.expect_error(code)
    # The same socket and the others still work.
    await buyer_socket.chat("still fine")
    await seller_socket.expect("chat-message", text="still fine")
    assert not [m for m in seller_socket.received if m["type"] in ("error", "websocket.close")]


async def test_frame_size_is_counted_in_bytes(room_with_two):
    """16 KB is a byte limit: 6,000 euro signs are 18,000 bytes in UTF-8."""
    _, _, buyer_socket = room_with_two
    frame = json.dumps({"type": "chat-message", "text": "€" * 6000}, ensure_ascii=False)
    assert len(frame) < 16 * 1024 < len(frame.encode())
    await buyer_socket.send_text(frame)
    await buyer_socket.expect_error("frame_too_large")
    # Just under the limit is parsed normally (and then refused as too long a message).
    await buyer_socket.send({"type": "chat-message", "text": "x" * (15 * 1024)})
    await buyer_socket.expect_error("invalid")


UNKNOWN_TYPES = [
    "chat",
    "CHAT-MESSAGE",
    "chat_message",
    "",
    " chat-message",
    "room.event",
    "room.kick",
    "room_event",
    "websocket.disconnect",
    "on_chat_message",
    "HANDLERS",
    "__init__",
    "x" * 5000,
]


async def test_unknown_types_are_refused(room_with_two):
    _, seller_socket, buyer_socket = room_with_two
    for frame_type in UNKNOWN_TYPES:
        await buyer_socket.send({"type": frame_type, "text": "hi", "user_id": 1})
        error = await buyer_socket.expect_error("unknown_type")
        assert len(error["message"]) < 200  # no echo of a huge type name
    # In particular a client cannot reach the server-side handlers (kick, broadcast), and
    # unknown types are not "malformed": the socket stays open.
    await buyer_socket.chat("fine")
    assert (await seller_socket.expect("chat-message"))["text"] == "fine"
    assert not [m for m in buyer_socket.received if m["type"] == "websocket.close"]
    assert not [m for m in seller_socket.received if m["type"] == "error"]


async def test_ten_malformed_frames_disconnect_the_client(room_with_two, shopper_socket_factory):
    live_room, seller_socket, buyer_socket = room_with_two
    await seller_socket.expect("viewer-count", count=2)
    for number in range(9):
        await buyer_socket.send_text(f"garbage {number}")
        await buyer_socket.expect_error("invalid_json")
    await buyer_socket.nothing("websocket.close")
    await buyer_socket.send_bytes(b"tenth")
    await buyer_socket.expect_error("invalid_frame")
    assert await buyer_socket.expect_close() == 4400
    await buyer_socket.disconnect()
    await seller_socket.expect("viewer-count", count=1)
    # Nobody else noticed anything but the count.
    await seller_socket.nothing("error", "websocket.close")
    await seller_socket.chat("carry on")
    other = await shopper_socket_factory(live_room)
    await other.chat("me too")


async def test_valid_but_refused_frames_do_not_count_as_malformed(room_with_two):
    _, _, buyer_socket = room_with_two
    for _ in range(12):
        await buyer_socket.send({"type": "no-such-thing"})
        await buyer_socket.expect_error("unknown_type")
        await buyer_socket.send({"type": "chat-message", "text": ""})
        await buyer_socket.expect_error("invalid")
    await buyer_socket.nothing("websocket.close")
    await buyer_socket.chat("still connected")


async def test_extra_fields_are_ignored(room_with_two):
    _, seller_socket, buyer_socket = room_with_two
    await buyer_socket.send(
        {
            "type": "chat-message",
            "text": "hello",
            "user": {"id": 1, "username": "admin"},
            "id": "f" * 32,
            "sent_at": "1999-01-01T00:00:00Z",
        }
    )
    message = await seller_socket.expect("chat-message")
    assert message["user"]["username"] == "bella_buyer"  # never what the client claims
    assert message["id"] != "f" * 32 and not message["sent_at"].startswith("1999")


async def test_a_storm_of_garbage_from_many_clients_breaks_nobody(
    live_room, seller, buyer, make_user, open_socket
):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    vandal = await sync_to_async(make_user)("vic_vandal")
    # Anonymous, signed in, and the seller's own second tab (whose frames get furthest).
    vandals = [
        await open_socket(live_room, label="anonymous vandal"),
        await open_socket(live_room, vandal),
        await open_socket(live_room, seller, via="session", label="seller vandal"),
    ]
    garbage = [
        "{",
        "[]",
        '{"type": {}}',
        '{"type": "chat-message", "text": {"$gt": ""}}',
        '{"type": "spotlight-product", "product_id": {"$ne": null}}',
        '{"type": "mute-user", "user_id": "1 OR 1=1", "minutes": 5}',
        '{"type": "join-queue", "__proto__": {"admin": true}}',
        json.dumps({"type": "chat-message", "text": "\ud800"}),
    ]
    for vandal in vandals:
        for text in garbage:
            await vandal.send_text(text)
        await vandal.send_bytes(b"\xff" * 100)
        await vandal.send({"type": "end-of-garbage"})
    for vandal in vandals:
        await vandal.expect("error", code="unknown_type")  # the last frame was answered
        errors = [m for m in vandal.received if m["type"] == "error"]
        assert len(errors) >= len(garbage), errors  # (one may be a valid join-queue)
        assert all(e["code"] != "server_error" for e in errors), errors
    await buyer_socket.chat("the show goes on")
    await seller_socket.expect("chat-message", text="the show goes on")
    await seller_socket.nothing("error", "websocket.close")


@pytest.fixture
def shopper_socket_factory(make_user, open_socket):
    async def open_(room):
        return await open_socket(room, await sync_to_async(make_user)("sid_shopper"))

    return open_
