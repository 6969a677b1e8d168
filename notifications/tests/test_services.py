"""Reminders and go-live notifications: who hears of a show, once, and never the seller."""

import logging

import pytest

from liveshop.errors import NotFoundError
from notifications import selectors, services
from notifications.exceptions import OwnRoomReminder, RoomNotScheduled
from notifications.models import Notification, RoomReminder
from rooms import services as room_services

pytestmark = pytest.mark.django_db


def go_live(room, capture):
    """Go live as the seller, running what waits for the commit (the notification hook)."""
    with capture(execute=True):
        return room_services.room_go_live(room=room, actor=room.seller)


def notified(room) -> dict:
    return {
        n.user.username: n.reason
        for n in Notification.objects.filter(room=room).select_related("user")
    }


def test_going_live_notifies_reminders_and_followers_once_each_never_the_seller(
    upcoming_room, make_user, seller, remind, follow, django_capture_on_commit_callbacks
):
    both = make_user("both")
    remind(both, upcoming_room)
    follow(both)
    reminder_only = make_user("reminder_only")
    remind(reminder_only, upcoming_room)
    follower_only = make_user("follower_only")
    follow(follower_only)
    make_user("bystander")
    # Even a reminder row for the seller (the service refuses to make one) notifies nobody.
    RoomReminder.objects.create(user=seller, room=upcoming_room)

    go_live(upcoming_room, django_capture_on_commit_callbacks)

    assert notified(upcoming_room) == {
        "both": Notification.Reason.REMINDER,  # a reminder says more than a follow
        "reminder_only": Notification.Reason.REMINDER,
        "follower_only": Notification.Reason.FOLLOWING,
    }
    note = Notification.objects.get(user=follower_only)
    assert note.kind == Notification.Kind.ROOM_LIVE
    assert note.seller == seller and note.read_at is None


def test_followers_of_another_seller_and_deactivated_accounts_hear_nothing(
    upcoming_room, make_user, other_seller, remind, follow, django_capture_on_commit_callbacks
):
    elsewhere = make_user("elsewhere")
    follow(elsewhere, of=other_seller)
    gone = make_user("gone")
    remind(gone, upcoming_room)
    follow(gone)
    gone.is_active = False
    gone.save()

    go_live(upcoming_room, django_capture_on_commit_callbacks)

    assert notified(upcoming_room) == {}


def test_announcing_the_same_show_again_makes_no_second_notification(
    upcoming_room, buyer, remind, django_capture_on_commit_callbacks
):
    remind(buyer, upcoming_room)
    go_live(upcoming_room, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True) as pushed:
        again = services.notifications_room_live(room=upcoming_room)

    assert again == 0 and pushed == []  # nothing new, nothing pushed
    assert Notification.objects.filter(user=buyer).count() == 1


def test_a_show_that_ended_before_the_announcement_notifies_nobody(
    upcoming_room, buyer, seller, remind
):
    remind(buyer, upcoming_room)
    room_services.room_go_live(room=upcoming_room, actor=seller)  # hook not run: no commit
    room_services.room_end(room=upcoming_room, actor=seller)

    assert services.notifications_room_live(room=upcoming_room) == 0
    assert not Notification.objects.exists()


def test_the_show_goes_live_even_when_notifying_fails(
    upcoming_room, buyer, remind, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    remind(buyer, upcoming_room)

    def broken(**kwargs):
        raise RuntimeError("notification store down")

    monkeypatch.setattr(services, "notifications_room_live", broken)
    with caplog.at_level(logging.ERROR, logger="liveshop.background"):
        room = go_live(upcoming_room, django_capture_on_commit_callbacks)

    room.refresh_from_db()
    assert room.is_live
    assert f"notify that room {room.pk} is live failed" in caplog.text


def test_remind_me_is_idempotent_and_cancelling_twice_changes_nothing(upcoming_room, buyer):
    first, created = services.room_reminder_set(user=buyer, room=upcoming_room)
    again, created_again = services.room_reminder_set(user=buyer, room=upcoming_room)
    assert created and not created_again and first == again
    assert selectors.reminded_room_ids(buyer) == {upcoming_room.pk}

    assert services.room_reminder_unset(user=buyer, room=upcoming_room) is True
    assert services.room_reminder_unset(user=buyer, room=upcoming_room) is False
    assert selectors.reminded_room_ids(buyer) == set()


def test_remind_me_is_refused_for_live_and_ended_shows_and_ones_own(make_room, buyer, seller):
    live = make_room(live=True)
    with pytest.raises(RoomNotScheduled) as refused:
        services.room_reminder_set(user=buyer, room=live)
    assert refused.value.code == "room_not_scheduled"

    room_services.room_end(room=live, actor=seller)
    with pytest.raises(RoomNotScheduled):
        services.room_reminder_set(user=buyer, room=live)

    with pytest.raises(OwnRoomReminder) as own:
        services.room_reminder_set(user=seller, room=make_room())
    assert own.value.code == "own_room"
    assert not RoomReminder.objects.exists()


def test_a_deactivated_sellers_show_cannot_be_reminded_of(upcoming_room, buyer, seller):
    seller.is_active = False
    seller.save()
    with pytest.raises(NotFoundError):
        services.room_reminder_set(user=buyer, room=upcoming_room)


@pytest.fixture
def two_notified(upcoming_room, make_user, remind, django_capture_on_commit_callbacks):
    """Two users who each got the go-live notification: (alice, bob)."""
    alice, bob = make_user("alice"), make_user("bob")
    remind(alice, upcoming_room)
    remind(bob, upcoming_room)
    go_live(upcoming_room, django_capture_on_commit_callbacks)
    return alice, bob


def test_marking_read_touches_only_your_own_notifications(two_notified):
    alice, bob = two_notified
    bobs = Notification.objects.get(user=bob)

    # Alice names Bob's notification: nothing happens to it.
    assert services.notifications_mark_read(user=alice, ids=[bobs.pk]) == 0
    assert selectors.unread_count(bob) == 1

    assert services.notifications_mark_read(user=alice, all=True) == 1
    assert selectors.unread_count(alice) == 0
    assert selectors.unread_count(bob) == 1

    alices = Notification.objects.get(user=alice)
    assert services.notifications_mark_read(user=alice, ids=[alices.pk]) == 0  # already read
    assert services.notifications_mark_read(user=bob, ids=[bobs.pk]) == 1
    assert selectors.unread_count(bob) == 0
