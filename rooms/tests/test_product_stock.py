"""`product-stock`: every room that is not over and lists a product hears its new count when
buyers reserve it at checkout, an order gives it back, or the seller changes it; the
remembered spotlight follows, so late joiners see the count too."""

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from catalog import services as catalog
from orders import services as orders
from orders.exceptions import OutOfStock
from rooms import services
from rooms.store import get_store

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)


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

    # A late joiner's card shows the count now, not the one remembered at spotlight time;
    # room-state also carries every listed product's count.
    late = await open_socket(show, label="late")
    assert late.state["spotlight"]["id"] == straw.pk
    assert late.state["spotlight"]["stock"] == 3
    assert sorted(
        (entry["product_id"], entry["stock"]) for entry in late.state["product_stock"]
    ) == sorted([(straw.pk, 3), (felt.pk, 0)])


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
    watcher = await open_socket(show, buyer)

    with pytest.raises(OutOfStock):
        await sync_to_async(orders.checkout_create_order)(user=buyer)
    await watcher.nothing("product-stock")
    late = await open_socket(show)
    assert late.state["spotlight"]["stock"] == 4


async def test_a_cancelled_order_gives_the_units_back_live(show, hats, buyer, open_socket):
    straw, _ = hats
    order = await sync_to_async(buy)(buyer, (straw, 4))
    watcher = await open_socket(show)
    assert watcher.state["spotlight"]["stock"] == 0

    await sync_to_async(orders.order_cancel_by_buyer)(order=order, buyer=buyer)

    assert stock_of(await watcher.expect("product-stock")) == (straw.pk, 4)
    assert (await open_socket(show)).state["spotlight"]["stock"] == 4


async def test_the_seller_restocking_is_shown_live(show, hats, seller, open_socket):
    straw, felt = hats
    watcher = await open_socket(show)

    await sync_to_async(catalog.product_update)(product=felt, actor=seller, stock=9)
    assert stock_of(await watcher.expect("product-stock")) == (felt.pk, 9)
    # Not the spotlighted product: the remembered spotlight (the straw hat) is left alone.
    remembered = await get_store().spotlight_get(str(show.pk))
    assert (remembered["id"], remembered["stock"]) == (straw.pk, 4)

    # Other edits than stock say nothing.
    await sync_to_async(catalog.product_update)(product=felt, actor=seller, name="Felt cap")
    await watcher.nothing("product-stock")


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
