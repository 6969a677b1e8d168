"""Room socket chat: delivery, persistence, validation, rate limit, and the moderation that
acts on chat (delete, mute, slow mode)."""

import asyncio
import re
from datetime import datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from rooms.models import ChatMessage, ShoppingRoom
from rooms.store import get_store

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)


def summary(user) -> dict:
    return {"id": user.pk, "username": user.username, "display_name": user.public_name}


@pytest.fixture
async def live_room(make_room):
    return await sync_to_async(make_room)(live=True)


@pytest.fixture
async def moderator(make_user):
    return await sync_to_async(make_user)("mona_mod")


@pytest.fixture
async def moderated_room(make_room, moderator):
    return await sync_to_async(make_room)(live=True, moderators=[moderator])


@pytest.fixture
async def shopper(make_user):
    return await sync_to_async(make_user)("sid_shopper")


# --- delivery ---------------------------------------------------------------------------


async def test_chat_message_reaches_everyone_in_the_room(live_room, seller, buyer, open_socket):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    anonymous = await open_socket(live_room)
    before = timezone.now()
    await buyer_socket.send({"type": "chat-message", "text": "Does it come in blue?"})
    received = [
        await socket.expect("chat-message") for socket in (seller_socket, buyer_socket, anonymous)
    ]
    message = received[0]
    assert set(message) == {"type", "id", "user", "text", "sent_at", "_at"}
    assert message["user"] == summary(buyer)
    assert message["text"] == "Does it come in blue?"
    assert re.fullmatch(r"[0-9a-f]{32}", message["id"])
    sent_at = datetime.fromisoformat(message["sent_at"])
    assert sent_at.utcoffset() == timedelta(0)  # UTC
    assert before - timedelta(seconds=1) <= sent_at <= timezone.now() + timedelta(seconds=1)
    for other in received[1:]:
        assert {k: v for k, v in other.items() if k != "_at"} == {
            k: v for k, v in message.items() if k != "_at"
        }

    # The seller chats too, and everyone sees the lines in order.
    await seller_socket.send({"type": "chat-message", "text": "Yes, and in red."})
    for socket in (seller_socket, buyer_socket, anonymous):
        reply = await socket.expect("chat-message", text="Yes, and in red.")
        assert reply["user"] == summary(seller)


async def test_display_name_is_shown(live_room, seller, buyer, open_socket):
    await sync_to_async(type(buyer).objects.filter(pk=buyer.pk).update)(display_name="Bella B.")
    watcher = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    await buyer_socket.send({"type": "chat-message", "text": "hi"})
    message = await watcher.expect("chat-message")
    assert message["user"] == {
        "id": buyer.pk,
        "username": "bella_buyer",
        "display_name": "Bella B.",
    }


async def test_chat_is_saved_to_the_database(live_room, seller, buyer, open_socket, eventually):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    first = await buyer_socket.chat("first")
    second = await seller_socket.chat("second")
    # The sender may go away at once: saving does not depend on its socket.
    await buyer_socket.disconnect()

    def saved():
        return list(ChatMessage.objects.filter(room=live_room).order_by("sent_at"))

    rows = await eventually(lambda: len(saved()) == 2 and saved())
    assert rows, "chat messages were not saved"
    assert [(r.message_id, r.user_id, r.text) for r in rows] == [
        (first["id"], buyer.pk, "first"),
        (second["id"], seller.pk, "second"),
    ]
    assert rows[0].sent_at == datetime.fromisoformat(first["sent_at"])
    assert rows[0].deleted_at is None
    room = await sync_to_async(ShoppingRoom.objects.get)(pk=live_room.pk)
    assert room.total_chat_messages == 2


async def test_late_joiner_gets_the_last_50_messages_oldest_first(
    live_room, seller, buyer, open_socket
):
    store = get_store()
    for number in range(60):
        await store.chat_append(
            str(live_room.pk),
            {
                "type": "chat-message",
                "id": f"{number:032x}",
                "user": summary(seller),
                "text": f"old {number}",
                "sent_at": timezone.now().isoformat(),
            },
        )
    buyer_socket = await open_socket(live_room, buyer)
    assert [m["text"] for m in buyer_socket.state["chat"]] == [f"old {n}" for n in range(10, 60)]
    live = await buyer_socket.chat("new one")

    late = await open_socket(live_room, seller)
    chat = late.state["chat"]
    assert len(chat) == 50
    assert chat[0]["text"] == "old 11"
    assert chat[-1] == {k: v for k, v in live.items() if k != "_at"}


async def test_anonymous_visitors_cannot_chat(live_room, seller, open_socket):
    watcher = await open_socket(live_room, seller)
    anonymous = await open_socket(live_room)
    await anonymous.send({"type": "chat-message", "text": "hello"})
    await anonymous.expect_error("login_required")
    await watcher.nothing("chat-message")


# --- text rules -------------------------------------------------------------------------

INVALID_TEXTS = [
    {},
    {"text": None},
    {"text": 123},
    {"text": True},
    {"text": ["hi"]},
    {"text": {"body": "hi"}},
    {"text": ""},
    {"text": "    "},
    {"text": "\n\t  \r\n"},
    {"text": "\x00\x01\x07\x1b"},
    {"text": "\u200b\u202e\u2066"},
    {"text": "x" * 501},
    {"text": "  " + "x" * 501 + "  "},
]


async def test_invalid_texts_are_refused(live_room, seller, buyer, open_socket):
    watcher = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    for fields in INVALID_TEXTS:
        await buyer_socket.send({"type": "chat-message", **fields})
        error = await buyer_socket.expect_error("invalid")
        assert error, fields
    await watcher.nothing("chat-message")
    # Refusals do not use up the rate limit: five good lines still go through.
    for number in range(5):
        await buyer_socket.chat(f"fine {number}")


async def test_texts_are_trimmed_and_control_characters_removed(
    live_room, seller, buyer, open_socket
):
    watcher = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    cases = [
        ("   padded   ", "padded"),
        ("a\x00b\x07c\x1bd\x7fe\x9bf", "abcdef"),
        ("right\u202eto\u200bleft\u2066", "righttoleft"),
        ("  " + "y" * 500 + "  ", "y" * 500),  # 500 after trimming is allowed
        ("line one\nline two", "line oneline two"),
    ]
    for sent, delivered in cases:
        await buyer_socket.send({"type": "chat-message", "text": sent})
        message = await watcher.expect("chat-message")
        assert message["text"] == delivered, sent


async def test_html_and_unicode_are_delivered_unchanged(live_room, seller, buyer, open_socket):
    """Escaping is the page's job; the socket carries the text exactly."""
    watcher = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    for text in [
        "<script>alert(\"x\")</script> & <b>bold</b> &amp; 'quotes'",
        "<img src=x onerror=alert(1)>",
        "Zoë 👍 — 日本語 ✓",
        "x" * 500,
    ]:
        await buyer_socket.send({"type": "chat-message", "text": text})
        assert (await watcher.expect("chat-message"))["text"] == text


# --- rate limit -------------------------------------------------------------------------


async def test_sixth_message_within_ten_seconds_is_refused(
    live_room, seller, buyer, shopper, open_socket
):
    watcher = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    shopper_socket = await open_socket(live_room, shopper)
    for number in range(5):
        await buyer_socket.chat(f"message {number}")
    await buyer_socket.send({"type": "chat-message", "text": "one too many"})
    await buyer_socket.expect_error("rate_limited")
    # The same user's second tab shares the limit.
    second_tab = await open_socket(live_room, buyer, via="session")
    await second_tab.send({"type": "chat-message", "text": "from the other tab"})
    await second_tab.expect_error("rate_limited")
    received = [m["text"] for m in await watcher.collect() if m["type"] == "chat-message"]
    assert "one too many" not in received and "from the other tab" not in received
    # Other people are not affected.
    await shopper_socket.chat("I can still talk")


# --- delete ----------------------------------------------------------------------------


async def test_seller_deletes_a_message_everywhere(
    live_room, seller, buyer, open_socket, eventually
):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    anonymous = await open_socket(live_room)
    kept = await buyer_socket.chat("nice jacket")
    spam = await buyer_socket.chat("BUY CHEAP WATCHES at spam.example")
    await seller_socket.expect("chat-message", id=spam["id"])

    await seller_socket.send({"type": "delete-message", "message_id": spam["id"]})
    for socket in (seller_socket, buyer_socket, anonymous):
        deleted = await socket.expect("message-deleted")
        assert {k: v for k, v in deleted.items() if k != "_at"} == {
            "type": "message-deleted",
            "message_id": spam["id"],
        }

    late = await open_socket(live_room)
    assert [m["id"] for m in late.state["chat"]] == [kept["id"]]

    row = await eventually(
        lambda: ChatMessage.objects.filter(message_id=spam["id"], deleted_at__isnull=False).first()
    )
    assert row is not None, "the saved message was not marked deleted"
    assert row.deleted_by_id == seller.pk
    other = await sync_to_async(ChatMessage.objects.get)(message_id=kept["id"])
    assert other.deleted_at is None


async def test_named_moderator_and_staff_delete_messages(
    moderated_room, moderator, buyer, open_socket
):
    buyer_socket = await open_socket(moderated_room, buyer)
    moderator_socket = await open_socket(moderated_room, moderator)
    message = await buyer_socket.chat("rude words")
    await moderator_socket.send({"type": "delete-message", "message_id": message["id"]})
    await buyer_socket.expect("message-deleted", message_id=message["id"])


async def test_buyers_cannot_delete_messages_not_even_their_own(
    live_room, seller, buyer, open_socket
):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    anonymous = await open_socket(live_room)
    own = await buyer_socket.chat("oops")
    for socket in (buyer_socket, anonymous):
        await socket.send({"type": "delete-message", "message_id": own["id"]})
        await socket.expect_error("permission_denied")
    await seller_socket.nothing("message-deleted")
    late = await open_socket(live_room)
    assert [m["id"] for m in late.state["chat"]] == [own["id"]]


async def test_delete_message_needs_a_message_id(live_room, seller, open_socket):
    seller_socket = await open_socket(live_room, seller)
    for fields in [
        {},
        {"message_id": None},
        {"message_id": 123},
        {"message_id": "zz"},
        {"message_id": ["a" * 32]},
        {"message_id": "A" * 32},
    ]:
        await seller_socket.send({"type": "delete-message", **fields})
        await seller_socket.expect_error("invalid")
    await seller_socket.nothing("message-deleted")


# --- mute -------------------------------------------------------------------------------


async def test_muted_user_cannot_chat(live_room, seller, buyer, shopper, open_socket):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    shopper_socket = await open_socket(live_room, shopper)
    await seller_socket.send({"type": "mute-user", "user_id": buyer.pk, "minutes": 5})
    muted = await buyer_socket.expect("muted")
    assert muted["minutes"] == 5
    notice = await seller_socket.expect("user-muted")
    assert str(notice["user_id"]) == str(buyer.pk) and notice["minutes"] == 5
    await shopper_socket.nothing("muted", "user-muted")

    await buyer_socket.send({"type": "chat-message", "text": "let me talk"})
    error = await buyer_socket.expect_error("muted")
    assert re.search(r"\d+", error["message"])
    await seller_socket.nothing("chat-message")
    # A fresh tab is muted just the same, and other people still chat.
    other_tab = await open_socket(live_room, buyer, via="session")
    await other_tab.send({"type": "chat-message", "text": "and now?"})
    await other_tab.expect_error("muted")
    await shopper_socket.chat("still here")


async def test_mute_ends_after_its_time(live_room, seller, buyer, open_socket):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    await seller_socket.send({"type": "mute-user", "user_id": str(buyer.pk), "minutes": 1})
    await buyer_socket.expect("muted")
    await buyer_socket.send({"type": "chat-message", "text": "x"})
    await buyer_socket.expect_error("muted")
    # A minute is long for a test: shorten the same mute in the store to one second.
    await get_store().mute(str(live_room.pk), buyer.pk, 1)
    await asyncio.sleep(1.1)
    await buyer_socket.chat("I'm back")


async def test_moderator_mutes_but_not_the_seller(
    moderated_room, seller, moderator, buyer, open_socket
):
    moderator_socket = await open_socket(moderated_room, moderator)
    buyer_socket = await open_socket(moderated_room, buyer)
    seller_socket = await open_socket(moderated_room, seller)
    await moderator_socket.send({"type": "mute-user", "user_id": buyer.pk, "minutes": 10})
    await buyer_socket.expect("muted", minutes=10)
    await moderator_socket.send({"type": "mute-user", "user_id": seller.pk, "minutes": 10})
    await moderator_socket.expect_error("permission_denied")
    await moderator_socket.send({"type": "mute-user", "user_id": moderator.pk, "minutes": 10})
    await moderator_socket.expect_error("invalid")  # nor yourself
    await seller_socket.nothing("muted")
    await seller_socket.chat("the seller still talks")


async def test_mute_fields_are_checked(live_room, seller, buyer, open_socket):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    bad = [
        {"user_id": buyer.pk, "minutes": 0},
        {"user_id": buyer.pk, "minutes": -5},
        {"user_id": buyer.pk, "minutes": 100000},
        {"user_id": buyer.pk, "minutes": "5"},
        {"user_id": buyer.pk, "minutes": 1.5},
        {"user_id": buyer.pk, "minutes": True},
        {"user_id": buyer.pk, "minutes": None},
        {"user_id": buyer.pk},
        {"minutes": 5},
        {"user_id": None, "minutes": 5},
        {"user_id": "bella_buyer", "minutes": 5},
        {"user_id": [buyer.pk], "minutes": 5},
        {"user_id": True, "minutes": 5},
        {"user_id": -1, "minutes": 5},
    ]
    for fields in bad:
        await seller_socket.send({"type": "mute-user", **fields})
        error = await seller_socket.expect("error")
        assert error["code"] == "invalid", (fields, error)
    await buyer_socket.nothing("muted")
    await buyer_socket.chat("not muted")


# --- slow mode --------------------------------------------------------------------------


async def test_slow_mode(live_room, seller, buyer, shopper, open_socket):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    anonymous = await open_socket(live_room)
    await seller_socket.send({"type": "slow-mode", "seconds": 1})
    for socket in (seller_socket, buyer_socket, anonymous):
        event = await socket.expect("slow-mode")
        assert {k: v for k, v in event.items() if k != "_at"} == {
            "type": "slow-mode",
            "seconds": 1,
        }
    late = await open_socket(live_room, shopper)
    assert late.state["slow_mode"] == 1

    await buyer_socket.chat("first")
    await buyer_socket.send({"type": "chat-message", "text": "second"})
    await buyer_socket.expect_error("slow_mode")
    # The seller is exempt.
    await seller_socket.chat("seller one")
    await seller_socket.chat("seller two")
    await asyncio.sleep(1.1)
    await buyer_socket.chat("after the wait")

    await seller_socket.send({"type": "slow-mode", "seconds": 0})
    await late.expect("slow-mode", seconds=0)
    await late.chat("quick one")
    await late.chat("quick two")
    assert (await open_socket(live_room)).state["slow_mode"] == 0


async def test_slow_mode_fields_are_checked(live_room, seller, buyer, open_socket):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    for fields in [
        {"seconds": -1},
        {"seconds": 3601},
        {"seconds": "5"},
        {"seconds": 1.5},
        {"seconds": None},
        {"seconds": False},
        {},
    ]:
        await seller_socket.send({"type": "slow-mode", **fields})
        error = await seller_socket.expect("error")
        assert error["code"] == "invalid", (fields, error)
    await buyer_socket.nothing("slow-mode")
    await buyer_socket.chat("one")
    await buyer_socket.chat("two")


async def test_lone_surrogates_are_removed_and_the_line_is_saved(
    live_room, seller, buyer, open_socket, eventually
):
    """JSON escapes can carry half a UTF-16 pair, which no database or browser accepts."""
    watcher = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    await buyer_socket.send_text('{"type": "chat-message", "text": "a\\ud800b\\udfffc"}')
    message = await watcher.expect("chat-message")
    assert message["text"] == "abc"
    saved = await eventually(
        lambda: list(
            ChatMessage.objects.filter(message_id=message["id"]).values_list("text", flat=True)
        )
    )
    assert saved == ["abc"]
