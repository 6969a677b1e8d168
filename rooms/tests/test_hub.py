"""The room hub (rooms/hub.py) as clients see it: chat ticks for sockets that take
`chat-batch`, single lines for the others, and nothing overtaking a pending line.
test_consumer_redis.py runs these again over Redis, with the per-process subscription."""

import pytest

from rooms import hub
from rooms.tests import test_consumer_chat

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)

BATCHED = "?batch=chat"


live_room = test_consumer_chat.live_room
shopper = test_consumer_chat.shopper


@pytest.fixture
def long_tick(monkeypatch):
    """A tick long enough that lines sent one after another surely share it, however slow
    the machine; the behaviour is the same at the shipped 0.1 s."""
    monkeypatch.setattr(hub, "CHAT_TICK", 0.5)


def lines_of(messages: list[dict]) -> list[str]:
    texts = []
    for message in messages:
        if message["type"] == "chat-batch":
            texts += [line["text"] for line in message["messages"]]
        elif message["type"] == "chat-message":
            texts.append(message["text"])
    return texts


async def test_a_batching_socket_gets_a_ticks_lines_in_one_frame_in_order(
    live_room, seller, shopper, open_socket, long_tick
):
    watcher = await open_socket(live_room, query=BATCHED, label="batching viewer")
    plain = await open_socket(live_room, label="plain viewer")
    sender = await open_socket(live_room, shopper)
    for text in ["one", "two", "three"]:
        await sender.send({"type": "chat-message", "text": text})

    batches = [await watcher.expect("chat-batch")]
    while len(lines_of(batches)) < 3:
        batches.append(await watcher.expect("chat-batch"))
    assert lines_of(batches) == ["one", "two", "three"]
    # Lines sent one after another share a frame (on a starved machine not all three may
    # fall in one tick, but never each in its own).
    assert len(batches) < 3
    line = batches[0]["messages"][0]
    assert set(line) == {"type", "id", "user", "text", "sent_at"}  # whole chat-message objects
    assert line["type"] == "chat-message" and line["user"]["username"] == "sid_shopper"
    # The socket that did not ask for batches gets each line as its own chat-message.
    for text in ["one", "two", "three"]:
        await plain.expect("chat-message", text=text)
    await plain.nothing("chat-batch")
    await watcher.nothing("chat-message")


async def test_a_line_deleted_within_its_tick_still_comes_before_its_deletion(
    live_room, seller, shopper, open_socket, long_tick
):
    watcher = await open_socket(live_room, query=BATCHED, label="batching viewer")
    seller_socket = await open_socket(live_room, seller)
    sender = await open_socket(live_room, shopper)
    await sender.send({"type": "chat-message", "text": "buy my fake watches"})
    spam = await seller_socket.expect("chat-message")  # the seller's socket is not batching
    await seller_socket.send({"type": "delete-message", "message_id": spam["id"]})
    await seller_socket.expect("message-deleted", message_id=spam["id"])

    # The deletion flushed the pending tick: the line, then its deletion, long before the
    # tick's end.
    first = await watcher.expect("chat-batch", timeout=0.4)
    assert lines_of([first]) == ["buy my fake watches"]
    deleted = await watcher.expect("message-deleted")
    assert deleted["message_id"] == spam["id"]
    assert watcher.received.index(first) < watcher.received.index(deleted)


async def test_events_sent_while_a_socket_connects_come_after_its_room_state(
    live_room, shopper, open_socket
):
    # open_socket asserts that the first message is room-state; chat flowing meanwhile
    # must neither come first nor be lost.
    sender = await open_socket(live_room, shopper)
    late = []
    for n in range(3):
        await sender.send({"type": "chat-message", "text": f"line {n}"})
        late.append(await open_socket(live_room, label=f"late {n}", query=BATCHED))
    for n, socket in enumerate(late):
        seen = [m["text"] for m in socket.state["chat"]]
        arrived = lines_of(await socket.collect(0.5))
        # Every line sent from the socket's connection on is either in its state or arrives.
        for k in range(n, 3):
            assert f"line {k}" in seen + arrived, (socket, seen, arrived)
