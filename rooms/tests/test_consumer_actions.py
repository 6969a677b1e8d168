"""Room socket actions: spotlight, the queue, banning, and who may moderate."""

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from accounts import services as account_services
from rooms.models import ShoppingRoom
from rooms.store import get_store

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)


def summary(user) -> dict:
    return {"id": user.pk, "username": user.username, "display_name": user.public_name}


def without_time(message: dict) -> dict:
    return {k: v for k, v in message.items() if k != "_at"}


@pytest.fixture
async def products(make_product):
    def make():
        return [
            make_product(name="Silk scarf", price=Decimal("25.50"), stock=7, currency="EUR"),
            make_product(name="Denim jacket", price=Decimal("59.00"), stock=2),
        ]

    return await sync_to_async(make)()


@pytest.fixture
async def live_room(make_room, products):
    return await sync_to_async(make_room)(live=True, products=products)


@pytest.fixture
async def moderator(make_user):
    return await sync_to_async(make_user)("mona_mod")


@pytest.fixture
async def staff(db):
    return await sync_to_async(account_services.staff_user_create)(
        username="stella_staff", email="stella@example.test", password="correct-horse-42"
    )


@pytest.fixture
async def moderated_room(make_room, products, moderator):
    return await sync_to_async(make_room)(live=True, products=products, moderators=[moderator])


@pytest.fixture
async def shopper(make_user):
    return await sync_to_async(make_user)("sid_shopper")


# --- spotlight --------------------------------------------------------------------------


async def test_seller_spotlights_a_product_for_everyone(
    live_room, products, seller, buyer, open_socket
):
    scarf = products[0]
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    anonymous = await open_socket(live_room)
    await seller_socket.send({"type": "spotlight-product", "product_id": scarf.pk})
    expected = {
        "type": "spotlight-product",
        "product": {
            "id": scarf.pk,
            "name": "Silk scarf",
            "price": "25.50",
            "currency": "EUR",
            "stock": 7,
            "image_url": None,
        },
    }
    for socket in (seller_socket, buyer_socket, anonymous):
        assert without_time(await socket.expect("spotlight-product")) == expected

    late = await open_socket(live_room)
    assert late.state["spotlight"] == expected["product"]
    room = await sync_to_async(ShoppingRoom.objects.get)(pk=live_room.pk)
    assert room.spotlight_product_id == scarf.pk

    # Another product replaces it; null clears it.
    jacket = products[1]
    await seller_socket.send({"type": "spotlight-product", "product_id": jacket.pk})
    assert (await buyer_socket.expect("spotlight-product"))["product"]["id"] == jacket.pk
    await seller_socket.send({"type": "spotlight-product", "product_id": None})
    for socket in (seller_socket, buyer_socket, anonymous, late):
        cleared = await socket.expect("spotlight-product", product=None)
        assert without_time(cleared) == {"type": "spotlight-product", "product": None}
    assert (await open_socket(live_room)).state["spotlight"] is None
    room = await sync_to_async(ShoppingRoom.objects.get)(pk=live_room.pk)
    assert room.spotlight_product_id is None


async def test_moderators_and_staff_may_spotlight(
    moderated_room, products, moderator, staff, buyer, open_socket
):
    buyer_socket = await open_socket(moderated_room, buyer)
    for user, product in ((moderator, products[0]), (staff, products[1])):
        socket = await open_socket(moderated_room, user)
        await socket.send({"type": "spotlight-product", "product_id": product.pk})
        assert (await buyer_socket.expect("spotlight-product"))["product"]["id"] == product.pk


async def test_buyers_and_visitors_cannot_spotlight(
    live_room, products, seller, buyer, open_socket
):
    seller_socket = await open_socket(live_room, seller)
    for socket in (await open_socket(live_room, buyer), await open_socket(live_room)):
        await socket.send({"type": "spotlight-product", "product_id": products[0].pk})
        await socket.expect_error("permission_denied")
        await socket.send({"type": "spotlight-product", "product_id": None})
        await socket.expect_error("permission_denied")
    await seller_socket.nothing("spotlight-product")


async def test_only_the_rooms_products_can_be_spotlighted(
    live_room, seller, other_seller, buyer, make_product, open_socket
):
    not_in_room = await sync_to_async(make_product)(name="Kept for later")
    foreign = await sync_to_async(make_product)(seller=other_seller, name="Not yours")
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    for product_id in (not_in_room.pk, foreign.pk, 999999):
        await seller_socket.send({"type": "spotlight-product", "product_id": product_id})
        await seller_socket.expect_error("invalid")
    await buyer_socket.nothing("spotlight-product")
    assert (await open_socket(live_room)).state["spotlight"] is None


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"product_id": "abc"},
        {"product_id": "1; DROP TABLE"},
        {"product_id": 1.5},
        {"product_id": True},
        {"product_id": [1]},
        {"product_id": {"id": 1}},
        {"product_id": -1},
        {"product_id": ""},
        {"product_id": "9" * 40},
    ],
)
async def test_spotlight_product_id_of_the_wrong_kind_is_invalid(
    live_room, seller, open_socket, fields
):
    seller_socket = await open_socket(live_room, seller)
    await seller_socket.send({"type": "spotlight-product", **fields})
    await seller_socket.expect_error("invalid")
    await seller_socket.nothing("spotlight-product")


async def test_no_spotlight_changes_after_the_room_ended(live_room, products, seller, open_socket):
    from rooms import services

    seller_socket = await open_socket(live_room, seller)
    await sync_to_async(services.room_end)(room=live_room, actor=seller)
    await seller_socket.expect("room-status", status="ended")
    await seller_socket.send({"type": "spotlight-product", "product_id": products[0].pk})
    await seller_socket.expect_error("room_ended")


# --- queue ------------------------------------------------------------------------------


async def test_queue_join_leave_and_admit(live_room, seller, buyer, shopper, open_socket):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    shopper_socket = await open_socket(live_room, shopper)

    await buyer_socket.send({"type": "join-queue"})
    assert without_time(await buyer_socket.expect("queue-position")) == {
        "type": "queue-position",
        "position": 1,
    }
    update = await seller_socket.expect("queue-update")
    assert without_time(update) == {
        "type": "queue-update",
        "queue": [{"user": summary(buyer), "position": 1}],
    }
    await shopper_socket.send({"type": "join-queue"})
    await shopper_socket.expect("queue-position", position=2)
    update = await seller_socket.expect("queue-update")
    assert update["queue"] == [
        {"user": summary(buyer), "position": 1},
        {"user": summary(shopper), "position": 2},
    ]
    # Late joiners learn their place from room-state.
    assert (await open_socket(live_room, shopper, via="session")).state["queue_position"] == 2

    # The seller admits the first in line; the rest move up.
    await seller_socket.send({"type": "queue-admit-next"})
    assert without_time(await buyer_socket.expect("queue-admitted")) == {"type": "queue-admitted"}
    await buyer_socket.expect("queue-position", position=None)
    await shopper_socket.expect("queue-position", position=1)
    update = await seller_socket.expect("queue-update")
    assert update["queue"] == [{"user": summary(shopper), "position": 1}]
    await shopper_socket.nothing("queue-admitted")

    # Leaving the queue.
    await shopper_socket.send({"type": "leave-queue"})
    await shopper_socket.expect("queue-position", position=None)
    assert (await seller_socket.expect("queue-update"))["queue"] == []
    await seller_socket.send({"type": "queue-admit-next"})
    await seller_socket.expect_error("queue_empty")


async def test_joining_the_queue_twice_keeps_one_place(
    live_room, seller, buyer, shopper, open_socket
):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    second_tab = await open_socket(live_room, buyer, via="session")
    shopper_socket = await open_socket(live_room, shopper)
    await buyer_socket.send({"type": "join-queue"})
    await buyer_socket.expect("queue-position", position=1)
    await second_tab.expect("queue-position", position=1)  # every tab of the user hears it
    await shopper_socket.send({"type": "join-queue"})
    await shopper_socket.expect("queue-position", position=2)
    await second_tab.send({"type": "join-queue"})
    await buyer_socket.expect("queue-position", position=1)
    await seller_socket.collect()
    await buyer_socket.send({"type": "join-queue"})
    await buyer_socket.expect("queue-position", position=1)
    # Nobody moved, so nobody else is told anything (a repeat join costs no fan-out).
    await seller_socket.nothing("queue-update")
    await shopper_socket.nothing("queue-position")
    queue = await get_store().queue_list(str(live_room.pk))
    assert [user["id"] for user in queue] == [buyer.pk, shopper.pk]


async def test_leaving_from_the_middle_moves_the_others_up(
    live_room, seller, buyer, shopper, make_user, open_socket
):
    third = await sync_to_async(make_user)("tara_third")
    sockets = [await open_socket(live_room, user) for user in (buyer, shopper, third)]
    seller_socket = await open_socket(live_room, seller)
    for place, socket in enumerate(sockets, start=1):
        await socket.send({"type": "join-queue"})
        await socket.expect("queue-position", position=place)
    await sockets[1].send({"type": "leave-queue"})
    await sockets[1].expect("queue-position", position=None)
    await sockets[2].expect("queue-position", position=2)
    line = [{"user": summary(buyer), "position": 1}, {"user": summary(third), "position": 2}]
    await seller_socket.expect("queue-update", queue=line)
    # Leaving when not queued changes nothing.
    await sockets[1].collect()
    await sockets[1].send({"type": "leave-queue"})
    await sockets[1].nothing("queue-position", "error")


async def test_queue_changes_are_limited_per_person(live_room, seller, buyer, open_socket):
    # Each change tells every queued person their place: toggling must not be a free
    # broadcast amplifier.
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    for n in range(10):
        await buyer_socket.send({"type": "leave-queue" if n % 2 else "join-queue"})
        await buyer_socket.expect("queue-position", position=None if n % 2 else 1)
    await seller_socket.collect()
    second_tab = await open_socket(live_room, buyer)  # the limit is the person's, not the tab's
    await second_tab.send({"type": "join-queue"})
    await second_tab.expect_error("rate_limited")
    await seller_socket.nothing("queue-update")
    assert await get_store().queue_list(str(live_room.pk)) == []


async def test_visitors_cannot_queue_and_buyers_cannot_admit(live_room, seller, buyer, open_socket):
    seller_socket = await open_socket(live_room, seller)
    anonymous = await open_socket(live_room)
    for kind in ("join-queue", "leave-queue"):
        await anonymous.send({"type": kind})
        await anonymous.expect_error("login_required")
    buyer_socket = await open_socket(live_room, buyer)
    await buyer_socket.send({"type": "join-queue"})
    await buyer_socket.expect("queue-position", position=1)
    for socket in (buyer_socket, anonymous):
        await socket.send({"type": "queue-admit-next"})
        await socket.expect_error("permission_denied")
    await buyer_socket.nothing("queue-admitted")
    update = await seller_socket.expect("queue-update")
    assert update["queue"] == [{"user": summary(buyer), "position": 1}]


async def test_queue_update_is_for_the_seller_side_only(
    moderated_room, seller, moderator, buyer, shopper, open_socket
):
    seller_socket = await open_socket(moderated_room, seller)
    moderator_socket = await open_socket(moderated_room, moderator)
    buyer_socket = await open_socket(moderated_room, buyer)
    shopper_socket = await open_socket(moderated_room, shopper)
    await buyer_socket.send({"type": "join-queue"})
    await seller_socket.expect("queue-update")
    await moderator_socket.expect("queue-update")
    await buyer_socket.nothing("queue-update")
    await shopper_socket.nothing("queue-update", "queue-position")


# --- ban --------------------------------------------------------------------------------


async def test_banned_user_is_thrown_out_and_cannot_come_back(
    live_room, seller, buyer, shopper, open_socket, refused
):
    seller_socket = await open_socket(live_room, seller)
    tab_1 = await open_socket(live_room, buyer)
    tab_2 = await open_socket(live_room, buyer, via="session")
    shopper_socket = await open_socket(live_room, shopper)
    await tab_1.send({"type": "join-queue"})
    await seller_socket.expect("queue-update")
    await seller_socket.expect("viewer-count", count=3)

    await seller_socket.send({"type": "ban-user", "user_id": buyer.pk})
    for tab in (tab_1, tab_2):
        await tab.expect_error("banned")
        assert await tab.expect_close() == 4403
        await tab.disconnect()
    notice = await seller_socket.expect("user-banned")
    assert str(notice["user_id"]) == str(buyer.pk)
    assert (await seller_socket.expect("queue-update"))["queue"] == []  # out of the line too
    await seller_socket.expect("viewer-count", count=2)
    await shopper_socket.nothing("user-banned", "error", "websocket.close")

    # Reconnecting is refused at the handshake, whichever way the user signs in.
    assert await refused(live_room, buyer)
    assert await refused(live_room, buyer, via="session")
    # Everyone else carries on.
    await shopper_socket.chat("still here")
    await seller_socket.expect("chat-message", text="still here")


async def test_a_ban_takes_the_spammers_lines_out_of_the_chat_for_everyone(
    live_room, seller, buyer, shopper, open_socket, eventually
):
    seller_socket = await open_socket(live_room, seller)
    spammer = await open_socket(live_room, buyer)
    shopper_socket = await open_socket(live_room, shopper)
    spam = [await spammer.chat(f"BUY FOLLOWERS {n}") for n in range(2)]
    kept = await shopper_socket.chat("is the scarf silk?")
    await seller_socket.expect("chat-message", text="is the scarf silk?")

    await seller_socket.send({"type": "ban-user", "user_id": buyer.pk})
    deleted = {(await shopper_socket.expect("message-deleted"))["message_id"] for _ in spam}
    assert deleted == {line["id"] for line in spam}
    await shopper_socket.nothing("message-deleted")  # the shopper's own line stays

    # A late joiner's history and the saved chat (the API's scroll-back) agree.
    late = await open_socket(live_room, label="late visitor")
    assert [line["id"] for line in late.state["chat"]] == [kept["id"]]

    def showing() -> list[str]:
        return list(live_room.messages.filter(deleted_at=None).values_list("message_id", flat=True))

    assert await eventually(lambda: showing() == [kept["id"]])


async def test_moderator_bans_but_not_the_seller_nor_themselves(
    moderated_room, seller, moderator, buyer, open_socket, refused
):
    moderator_socket = await open_socket(moderated_room, moderator)
    seller_socket = await open_socket(moderated_room, seller)
    buyer_socket = await open_socket(moderated_room, buyer)
    await moderator_socket.send({"type": "ban-user", "user_id": seller.pk})
    await moderator_socket.expect_error("permission_denied")
    await moderator_socket.send({"type": "ban-user", "user_id": moderator.pk})
    await moderator_socket.expect_error("invalid")
    await seller_socket.nothing("error", "websocket.close")
    await moderator_socket.send({"type": "ban-user", "user_id": str(buyer.pk)})
    await buyer_socket.expect_error("banned")
    assert await buyer_socket.expect_close() == 4403
    assert await refused(moderated_room, buyer)


async def test_a_ban_holds_in_its_room_only(make_room, seller, buyer, open_socket, refused):
    banned_from = await sync_to_async(make_room)(live=True, title="First show")
    elsewhere = await sync_to_async(make_room)(live=True, title="Second show")
    seller_socket = await open_socket(banned_from, seller)
    await seller_socket.send({"type": "ban-user", "user_id": buyer.pk})
    await seller_socket.expect("user-banned")
    assert await refused(banned_from, buyer)
    socket = await open_socket(elsewhere, buyer)
    assert socket.state["you"]["role"] == "buyer"


async def test_ban_user_fields_are_checked(live_room, seller, buyer, open_socket):
    seller_socket = await open_socket(live_room, seller)
    buyer_socket = await open_socket(live_room, buyer)
    for fields in [
        {},
        {"user_id": None},
        {"user_id": "bella"},
        {"user_id": 1.5},
        {"user_id": [buyer.pk]},
        {"user_id": False},
    ]:
        await seller_socket.send({"type": "ban-user", **fields})
        await seller_socket.expect_error("invalid")
    await seller_socket.send({"type": "ban-user", "user_id": seller.pk})
    await seller_socket.expect_error("permission_denied")
    await buyer_socket.nothing("error", "websocket.close")


# --- who may moderate -------------------------------------------------------------------

MODERATION_FRAMES = [
    {"type": "spotlight-product", "product_id": None},
    {"type": "queue-admit-next"},
    {"type": "delete-message", "message_id": "0" * 32},
    {"type": "mute-user", "user_id": 1, "minutes": 5},
    {"type": "ban-user", "user_id": 1},
    {"type": "slow-mode", "seconds": 5},
]


@pytest.mark.parametrize("who", ["buyer", "anonymous"])
async def test_buyers_sending_moderation_frames_are_refused(
    live_room, seller, buyer, shopper, open_socket, who
):
    seller_socket = await open_socket(live_room, seller)
    shopper_socket = await open_socket(live_room, shopper)
    socket = await open_socket(live_room, buyer if who == "buyer" else None)
    for frame in MODERATION_FRAMES:
        # Aim at a real person, so a wrongly allowed frame would show.
        frame = {**frame, **({"user_id": shopper.pk} if "user_id" in frame else {})}
        await socket.send(frame)
        error = await socket.expect("error")
        assert error["code"] == "permission_denied", (frame, error)
    await shopper_socket.nothing("muted", "error", "websocket.close", "slow-mode")
    await seller_socket.nothing("user-muted", "user-banned", "slow-mode", "message-deleted")
    await shopper_socket.chat("nobody silenced me")


async def test_staff_moderate_any_room(live_room, staff, buyer, open_socket, refused):
    staff_socket = await open_socket(live_room, staff)
    buyer_socket = await open_socket(live_room, buyer)
    await staff_socket.send({"type": "mute-user", "user_id": buyer.pk, "minutes": 3})
    await buyer_socket.expect("muted", minutes=3)
    await staff_socket.send({"type": "ban-user", "user_id": buyer.pk})
    await buyer_socket.expect_error("banned")
    assert await refused(live_room, buyer)


# --- rights and ids checked where they are used ----------------------------------------


async def test_a_removed_moderator_loses_moderation_on_an_open_socket(
    moderated_room, seller, moderator, buyer, open_socket
):
    mod_socket = await open_socket(moderated_room, moderator)
    assert mod_socket.state["you"]["role"] == "moderator"
    await sync_to_async(lambda: moderated_room.moderators.remove(moderator))()

    await mod_socket.send({"type": "ban-user", "user_id": buyer.pk})

    await mod_socket.expect_error("permission_denied")
    assert not await get_store().is_banned(str(moderated_room.pk), str(buyer.pk))


async def test_another_spelling_of_the_room_id_does_not_dodge_a_ban(
    live_room, seller, buyer, open_socket, room_socket
):
    seller_socket = await open_socket(live_room, seller)
    await seller_socket.send({"type": "ban-user", "user_id": f"00{buyer.pk}"})
    await seller_socket.expect("user-banned", user_id=str(buyer.pk))

    class SpelledRoom:
        pk = f"0{live_room.pk}"

    communicator = await room_socket(SpelledRoom, buyer)
    connected, _ = await communicator.connect()
    assert not connected


async def test_a_room_id_the_database_cannot_hold_is_refused_at_the_handshake(buyer, room_socket):
    class NoSuchRoom:
        pk = "abc"

    communicator = await room_socket(NoSuchRoom, buyer)
    connected, _ = await communicator.connect()
    assert not connected
