"""Staff find rooms and chat messages in Django admin."""

import pytest
from django.utils import timezone

from accounts import services as account_services
from rooms import services


@pytest.fixture
def staff_client(client, db):
    staff = account_services.staff_user_create(
        username="stella_staff", email="stella@example.test", password="correct-horse-42"
    )
    client.force_login(staff)
    return client


@pytest.mark.parametrize(
    "url, expected",
    [
        ("/admin/rooms/shoppingroom/", "Evening show"),
        ("/admin/rooms/shoppingroom/?q=sam_seller&status__exact=live", "Evening show"),
        ("/admin/rooms/chatmessage/?q=hello", "hello there"),
        ("/admin/rooms/chatmessage/?q=bella_buyer", "hello there"),
    ],
)
def test_staff_search_and_filter_rooms_and_chat(staff_client, make_room, buyer, url, expected):
    room = make_room(live=True)
    services.chat_message_record(
        room_id=room.pk,
        message_id="a" * 32,
        user_id=buyer.pk,
        text="hello there",
        sent_at=timezone.now(),
    )

    response = staff_client.get(url)

    assert response.status_code == 200
    assert expected in response.text


def test_staff_open_a_room_in_admin(staff_client, make_room):
    room = make_room()

    response = staff_client.get(f"/admin/rooms/shoppingroom/{room.pk}/change/")

    assert response.status_code == 200
    assert "Evening show" in response.text
