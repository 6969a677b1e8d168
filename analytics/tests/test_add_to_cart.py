"""A room's "Added to cart" counts shoppers putting a product in their cart during the show:
only while the room is live, and once per cart line and room, so that repeating an add, or a
client looping add and remove through the API, cannot inflate a seller's numbers."""

import pytest
from rest_framework.test import APIClient

from analytics.tests.test_numbers import ITEMS, add
from orders.models import CartItem
from rooms import services as room_services
from rooms.models import ShoppingRoom

pytestmark = pytest.mark.django_db


def add_to_carts(room) -> int:
    return ShoppingRoom.objects.get(pk=room.pk).total_add_to_carts


def test_adding_the_same_product_again_from_the_room_counts_once(
    buyer, auth_api, jacket, make_room
):
    room = make_room(products=[jacket])
    api = auth_api(buyer)
    for _ in range(3):
        add(api, jacket, room)

    assert add_to_carts(room) == 1
    item = CartItem.objects.get(cart__user=buyer)
    assert (item.quantity, item.room_id) == (3, room.pk)


def test_a_line_moving_between_rooms_counts_once_for_each_room(buyer, auth_api, jacket, make_room):
    first = make_room(products=[jacket], title="First")
    second = make_room(products=[jacket], title="Second")
    api = auth_api(buyer)
    add(api, jacket, first)
    add(api, jacket, second)  # the line now belongs to the second room (latest wins)
    add(api, jacket, first)  # and back: the first room had it already

    assert (add_to_carts(first), add_to_carts(second)) == (1, 1)
    assert CartItem.objects.get(cart__user=buyer).room_id == first.pk


@pytest.mark.parametrize("status", ["scheduled", "ended"])
def test_adds_from_a_room_that_is_not_live_add_to_the_cart_but_not_to_its_numbers(
    status, buyer, seller, auth_api, jacket, make_room
):
    room = make_room(products=[jacket], live=status == "ended")
    if status == "ended":
        room = room_services.room_end(room=room, actor=seller)

    response = add(auth_api(buyer), jacket, room)

    assert response.json()["item"]["quantity"] == 1
    assert CartItem.objects.get(cart__user=buyer).room_id is None
    assert add_to_carts(room) == 0


def test_an_anonymous_client_looping_add_and_remove_counts_once(jacket, make_room):
    room = make_room(products=[jacket])
    client = APIClient()  # an anonymous API client: its cart lives in its session
    for _ in range(5):
        line = add(client, jacket, room).json()["item"]
        assert client.delete(f"{ITEMS}{line['id']}/").status_code == 200

    assert add_to_carts(room) == 1
    assert not CartItem.objects.exists()


def test_another_shopper_adding_from_the_room_counts_again(
    buyer, make_user, auth_api, jacket, make_room
):
    room = make_room(products=[jacket])
    add(auth_api(buyer), jacket, room)
    add(auth_api(make_user("second_buyer")), jacket, room)
    add(APIClient(), jacket, room)  # an anonymous visitor

    assert add_to_carts(room) == 3
