"""`product-stock`: every room that is not over and lists a product hears its new count when
buyers reserve it at checkout, an order gives it back, or the seller changes it. Messages are
coalesced per product (a flash sale is a few messages, the last with the final count), the
checkout does not wait for them, and late joiners get the counts in room-state's
`product_stock` (the remembered spotlight is never rewritten behind the seller's back)."""

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog import services as catalog
from orders import services as orders
from orders.exceptions import OutOfStock
from orders.models import OrderItem
from rooms import events, services
from rooms.store import get_store

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5.0  # waiting for something that must happen
# The tests that are about coalescing use the real interval; the others need not wait half
# a second for each product's announcer to finish.
FAST_STOCK_INTERVAL = 0.02


@pytest.fixture(autouse=True)
def fast_stock_interval(request, monkeypatch):
    if "real_stock_interval" not in request.fixturenames:
        monkeypatch.setattr(services, "STOCK_INTERVAL", FAST_STOCK_INTERVAL)


@pytest.fixture
def real_stock_interval():
    assert services.STOCK_INTERVAL == 0.5


@pytest.fixture
async def hats(make_product):
    def make():
        return (
            make_product(name="Straw hat", price=Decimal("19.00"), stock=4),
            make_product(name="Felt hat", price=Decimal("45.00"), stock=2),
        )

    return await sync_to_async(make)()


@pytest.fixture
async def show(make_room, seller, hats):
    """A live room listing both hats, the straw hat in the spotlight."""

    def make():
        room = make_room(live=True, products=list(hats))
        services.room_spotlight(room=room, actor=seller, product_id=hats[0].pk)
        return room

    return await sync_to_async(make)()


def stock_of(message: dict) -> tuple:
    return message["product_id"], message["stock"]


def listed_stock(state: dict) -> dict:
    """room-state's `product_stock` as {product id: count}."""
    return {entry["product_id"]: entry["stock"] for entry in state["product_stock"]}


async def announced() -> None:
    """Let the announcers started so far finish: their messages are out (before a socket
    that must not hear them opens)."""
    while events.background_tasks:
        await asyncio.wait(set(events.background_tasks), timeout=TIMEOUT)


def buy(user, *lines) -> object:
    """Put (product, quantity) lines in `user`'s cart and check out: stock is reserved."""
    cart = orders.cart_for_user(user=user)
    for product, quantity in lines:
        orders.cart_add(cart=cart, product=product, quantity=quantity)
    return orders.checkout_create_order(user=user)


async def test_a_checkout_tells_the_rooms_listing_the_product_its_new_count(
    show, hats, seller, buyer, make_room, make_product, open_socket
):
    straw, felt = hats
    watcher = await open_socket(show, buyer, label="watcher")
    anonymous = await open_socket(show)
    elsewhere_room, ended_room = await sync_to_async(
        lambda: (
            make_room(live=True, products=[make_product(name="Umbrella")]),
            services.room_end(room=make_room(live=True, products=[straw]), actor=seller),
        )
    )()
    elsewhere = await open_socket(elsewhere_room, label="other room")
    ended = await open_socket(ended_room, label="ended room")

    await sync_to_async(buy)(buyer, (straw, 1), (felt, 2))

    for socket in (watcher, anonymous):
        counts = {stock_of(await socket.expect("product-stock")) for _ in range(2)}
        assert counts == {(straw.pk, 3), (felt.pk, 0)}
    await elsewhere.nothing("product-stock")
    await ended.nothing("product-stock")

    # A late joiner gets the spotlight and, in room-state, every listed product's count now
    # (room.js puts it on the card: tests/test_browser_room_experience.py).
    late = await open_socket(show, label="late")
    assert late.state["spotlight"]["id"] == straw.pk
    assert listed_stock(late.state) == {straw.pk: 3, felt.pk: 0}


async def test_a_rolled_back_checkout_says_nothing(show, hats, seller, buyer, open_socket):
    straw, felt = hats
    await sync_to_async(
        lambda: orders.cart_add(cart=orders.cart_for_user(user=buyer), product=straw)
    )()
    watcher = await open_socket(show, buyer)

    def checkout_then_fail() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            orders.checkout_create_order(user=buyer)
            raise RuntimeError("rolled back")

    await sync_to_async(checkout_then_fail)()
    await watcher.nothing("product-stock")


async def test_a_checkout_that_runs_out_reserves_and_says_nothing(
    show, hats, seller, buyer, open_socket
):
    straw, felt = hats

    def cart_then_sold_out_elsewhere() -> None:
        cart = orders.cart_for_user(user=buyer)
        orders.cart_add(cart=cart, product=straw, quantity=1)
        orders.cart_add(cart=cart, product=felt, quantity=2)

    await sync_to_async(cart_then_sold_out_elsewhere)()
    # The felt hat sells out before this buyer checks out: their straw hat is not kept.
    await sync_to_async(catalog.product_update)(product=felt, actor=seller, stock=1)
    await announced()
    watcher = await open_socket(show, buyer)

    with pytest.raises(OutOfStock):
        await sync_to_async(orders.checkout_create_order)(user=buyer)
    await watcher.nothing("product-stock")
    late = await open_socket(show)
    assert listed_stock(late.state) == {straw.pk: 4, felt.pk: 1}


async def test_a_cancelled_order_gives_the_units_back_live(show, hats, buyer, open_socket):
    straw, _ = hats
    order = await sync_to_async(buy)(buyer, (straw, 4))
    await announced()
    watcher = await open_socket(show)
    assert listed_stock(watcher.state)[straw.pk] == 0

    await sync_to_async(orders.order_cancel_by_buyer)(order=order, buyer=buyer)

    assert stock_of(await watcher.expect("product-stock")) == (straw.pk, 4)
    assert listed_stock((await open_socket(show)).state)[straw.pk] == 4


async def test_the_seller_restocking_is_shown_live(show, hats, seller, open_socket):
    straw, felt = hats
    watcher = await open_socket(show)

    await sync_to_async(catalog.product_update)(product=felt, actor=seller, stock=9)
    assert stock_of(await watcher.expect("product-stock")) == (felt.pk, 9)

    # Other edits than stock say nothing.
    await sync_to_async(catalog.product_update)(product=felt, actor=seller, name="Felt cap")
    await watcher.nothing("product-stock")


async def test_a_product_save_that_leaves_the_count_as_it_was_says_nothing(
    show, hats, seller, open_socket
):
    """The seller's form sends the stock with every save (a new price, a typo fixed)."""
    straw, felt = hats
    watcher = await open_socket(show)

    await sync_to_async(catalog.product_update)(
        product=felt, actor=seller, price=Decimal("39.00"), stock=2, stock_seen=2
    )
    await sync_to_async(catalog.product_update)(product=felt, actor=seller, stock=2)
    await watcher.nothing("product-stock")

    # A change is still told, with either way of writing the count.
    await sync_to_async(catalog.product_update)(product=felt, actor=seller, stock=5, stock_seen=2)
    assert stock_of(await watcher.expect("product-stock")) == (felt.pk, 5)
    await sync_to_async(catalog.product_update)(product=straw, actor=seller, stock=7)
    assert stock_of(await watcher.expect("product-stock")) == (straw.pk, 7)


async def test_a_product_in_two_live_rooms_is_told_to_both(
    show, hats, seller, buyer, make_room, open_socket
):
    straw, _ = hats
    second_room = await sync_to_async(make_room)(live=True, products=[straw])
    first, second = await open_socket(show), await open_socket(second_room)

    await sync_to_async(buy)(buyer, (straw, 2))

    for socket in (first, second):
        assert stock_of(await socket.expect("product-stock")) == (straw.pk, 2)
        await socket.nothing("product-stock")  # once per room, not once per room and product


async def test_a_burst_of_checkouts_is_told_in_a_few_messages_ending_with_the_final_count(
    make_room, make_product, buyer, open_socket, real_stock_interval
):
    """A flash sale: one frame per checkout to every socket of the room would be 500 x
    2,000 frames. At most one message per product and room every half second instead, and
    the last one carries the final count."""
    checkouts = 20

    def flash_sale_room():
        cap = make_product(name="Flash-sale cap", stock=checkouts + 5)
        return make_room(live=True, products=[cap]), cap

    room, cap = await sync_to_async(flash_sale_room)()
    watcher = await open_socket(room)

    def flash_sale() -> None:
        for _ in range(checkouts):
            buy(buyer, (cap, 1))

    await sync_to_async(flash_sale)()

    await watcher.expect("product-stock", stock=5, timeout=TIMEOUT)
    await watcher.collect(wait=2 * services.STOCK_INTERVAL)  # anything still coming
    frames = [m for m in watcher.received if m["type"] == "product-stock"]
    counts = [m["stock"] for m in frames]
    assert {m["product_id"] for m in frames} == {cap.pk}
    assert len(frames) <= checkouts // 4, counts
    # Never an older count after a newer one, and the last one is the final count (a
    # checkout committing just as a message goes out may repeat it once: harmless).
    assert counts == sorted(counts, reverse=True) and counts[-1] == 5, counts


async def test_a_checkout_does_not_wait_for_its_stock_message(
    show, hats, buyer, open_socket, monkeypatch
):
    """The buyer's checkout answers at once; the rooms hear the count in the background."""
    straw, _ = hats
    watcher = await open_socket(show)
    sending_allowed = asyncio.Event()
    send = services.room_event_send

    async def held_send(group: str, event: dict) -> None:
        await sending_allowed.wait()  # the channel layer is slow (a busy Redis)
        await send(group, event)

    monkeypatch.setattr(services, "room_event_send", held_send)
    try:
        order = await asyncio.wait_for(sync_to_async(buy)(buyer, (straw, 1)), TIMEOUT)
        assert order.pk is not None
        await watcher.nothing("product-stock")
    finally:
        sending_allowed.set()
    assert stock_of(await watcher.expect("product-stock")) == (straw.pk, 3)


async def test_a_stock_message_never_brings_back_a_spotlight_the_seller_replaced(
    show, hats, seller, buyer, open_socket, monkeypatch
):
    """The seller spotlights the felt hat while the straw hat's new count goes out: late
    joiners must get the felt hat (an announcer that read the remembered spotlight and
    wrote it back with the new count put the straw hat back)."""
    straw, felt = hats
    watcher = await open_socket(show)
    store = get_store()
    spotlight_get = store.spotlight_get
    switched = False

    async def seller_switches_meanwhile(room_id: str):
        nonlocal switched
        remembered = await spotlight_get(room_id)
        if not switched:
            switched = True
            await sync_to_async(services.room_spotlight)(
                room=show, actor=seller, product_id=felt.pk
            )
        return remembered

    monkeypatch.setattr(store, "spotlight_get", seller_switches_meanwhile)
    await sync_to_async(buy)(buyer, (straw, 1))
    assert stock_of(await watcher.expect("product-stock")) == (straw.pk, 3)
    monkeypatch.setattr(store, "spotlight_get", spotlight_get)
    if not switched:  # the announcer never looked at the spotlight: switch now
        switched = True
        await sync_to_async(services.room_spotlight)(room=show, actor=seller, product_id=felt.pk)
    assert (await watcher.expect("spotlight-product"))["product"]["id"] == felt.pk
    await announced()

    late = await open_socket(show, label="late")
    assert late.state["spotlight"]["id"] == felt.pk
    assert listed_stock(late.state) == {straw.pk: 3, felt.pk: 2}


async def test_a_cancelled_order_reads_its_lines_once(show, hats, buyer):
    straw, felt = hats
    order = await sync_to_async(buy)(buyer, (straw, 1), (felt, 1))
    await announced()

    def cancel() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            orders.order_cancel_by_buyer(order=order, buyer=buyer)
        table = OrderItem._meta.db_table
        return [q["sql"] for q in queries if q["sql"].startswith("SELECT") and table in q["sql"]]

    reads = await sync_to_async(cancel)()
    await announced()
    assert len(reads) == 1, reads
