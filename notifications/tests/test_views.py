"""The pages: "Remind me" on room cards and the room page (without JavaScript), the
notification list, and the nav's unread badge."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.models import Notification, RoomReminder
from rooms import services as room_services

pytestmark = pytest.mark.django_db


def remind_url(room) -> str:
    return f"/rooms/{room.pk}/remind/"


def test_visitors_are_asked_to_log_in_and_a_post_changes_nothing(client, upcoming_room):
    page = client.get(upcoming_room.get_absolute_url()).content.decode()
    assert "Log in to get a reminder" in page
    assert "Remind me" not in page

    answer = client.post(remind_url(upcoming_room))
    assert answer.status_code == 302
    assert answer.url.startswith("/accounts/login/?next=")
    assert not RoomReminder.objects.exists()


def test_remind_me_and_cancel_from_the_room_page(client, buyer, upcoming_room):
    client.force_login(buyer)
    room_url = upcoming_room.get_absolute_url()
    assert "Remind me" in client.get(room_url).content.decode()

    answer = client.post(remind_url(upcoming_room), {"next": room_url}, follow=True)
    assert answer.redirect_chain[-1][0] == room_url
    page = answer.content.decode()
    assert "Reminder set ✓" in page
    assert "We will tell you here when “Spring hats” goes live." in page
    assert RoomReminder.objects.filter(user=buyer, room=upcoming_room).exists()

    answer = client.post(f"{remind_url(upcoming_room)}cancel/", {"next": room_url}, follow=True)
    assert "Remind me" in answer.content.decode()
    assert not RoomReminder.objects.exists()


def test_an_outside_next_is_ignored(client, buyer, upcoming_room):
    client.force_login(buyer)
    answer = client.post(remind_url(upcoming_room), {"next": "https://evil.example/"})
    assert answer.url == upcoming_room.get_absolute_url()


def test_remind_me_on_a_live_show_says_why_and_changes_nothing(client, buyer, make_room):
    live = make_room(live=True)
    client.force_login(buyer)
    page = client.post(remind_url(live), follow=True).content.decode()
    assert "This show is already live: join it now." in page
    assert not RoomReminder.objects.exists()


def test_unknown_rooms_are_404(client, buyer):
    client.force_login(buyer)
    assert client.post("/rooms/999999/remind/").status_code == 404
    assert client.get("/rooms/1/remind/").status_code == 405


def test_the_seller_gets_no_remind_button_on_his_own_show(client, seller, upcoming_room):
    client.force_login(seller)
    page = client.get(upcoming_room.get_absolute_url()).content.decode()
    assert "Remind me" not in page and "Log in to get a reminder" not in page


def test_room_cards_show_reminder_state_without_a_query_per_card(client, buyer, make_room, remind):
    def home_queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as queries:
            page = client.get("/").content.decode()
        return len(queries), page

    client.force_login(buyer)
    soon = timezone.now() + timedelta(hours=2)
    first = make_room(title="Show one", scheduled_start=soon)
    remind(buyer, first)
    few, page = home_queries()
    assert page.count("Reminder set ✓") == 1

    for n in range(3):
        remind(buyer, make_room(title=f"Show {n}", scheduled_start=soon))
    many, page = home_queries()
    assert page.count("Reminder set ✓") == 4
    assert many == few


@pytest.fixture
def notified(upcoming_room, buyer, remind, django_capture_on_commit_callbacks):
    remind(buyer, upcoming_room)
    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_go_live(room=upcoming_room, actor=upcoming_room.seller)
    return Notification.objects.get(user=buyer)


def test_the_notification_list_needs_a_login(client):
    answer = client.get("/notifications/")
    assert answer.status_code == 302 and answer.url.startswith("/accounts/login/")


def test_an_empty_notification_list_says_how_to_get_some(client, buyer):
    client.force_login(buyer)
    page = client.get("/notifications/").content.decode()
    assert "No notifications yet." in page
    assert "Mark all read" not in page


def test_the_list_highlights_unread_and_mark_all_read_clears_the_badge(
    client, buyer, notified, upcoming_room
):
    client.force_login(buyer)
    page = client.get("/notifications/").content.decode()
    assert "notification--unread" in page
    assert "sam_seller&#x27;s shop is live" in page
    assert f'href="/rooms/{upcoming_room.pk}/"' in page
    assert 'id="notification-count" class="cart-badge notification-badge">1<' in page

    page = client.post(
        "/notifications/read/", {"all": "1", "next": "/notifications/"}, follow=True
    ).content.decode()
    assert "notification--unread" not in page
    assert "Mark all read" not in page
    assert 'id="notification-count" class="cart-badge notification-badge" hidden>0<' in page


def test_marking_one_read_from_the_list(client, buyer, notified):
    client.force_login(buyer)
    client.post("/notifications/read/", {"id": str(notified.pk)})
    notified.refresh_from_db()
    assert notified.read_at is not None


def test_nobody_else_can_mark_your_notification_read(client, make_user, notified):
    client.force_login(make_user("mallory"))
    for data in ({"id": str(notified.pk)}, {"all": "1"}, {"id": "junk"}):
        assert client.post("/notifications/read/", data).status_code == 302
    notified.refresh_from_db()
    assert notified.read_at is None


def test_the_list_is_paginated_newest_first(client, buyer, seller, make_room):
    rooms = [make_room(title=f"Show {n:02}") for n in range(22)]
    now = timezone.now()
    for n, room in enumerate(rooms):
        Notification.objects.create(
            user=buyer,
            kind=Notification.Kind.ROOM_LIVE,
            reason=Notification.Reason.FOLLOWING,
            room=room,
            seller=seller,
            created_at=now - timedelta(minutes=n),
        )
    client.force_login(buyer)
    first = client.get("/notifications/").content.decode()
    assert "Show 00" in first and "Show 19" in first and "Show 20" not in first
    assert first.index("Show 00") < first.index("Show 01")
    second = client.get("/notifications/?page=2").content.decode()
    assert "Show 21" in second and "Show 00" not in second
