"""The notifications API: "Remind me" on rooms, listing and marking your notifications,
and what someone else (or nobody) can do with them: nothing."""

import pytest

from notifications import selectors
from notifications.models import Notification, RoomReminder
from rooms import services as room_services

pytestmark = pytest.mark.django_db


def remind_url(room) -> str:
    return f"/api/v1/rooms/{room.pk}/remind/"


LIST = "/api/v1/me/notifications/"
READ = "/api/v1/me/notifications/read/"


def test_remind_me_over_the_api_is_idempotent(auth_api, buyer, upcoming_room):
    api = auth_api(buyer)
    first = api.post(remind_url(upcoming_room))
    assert first.status_code == 201, first.content
    assert first.json() == {"room_id": upcoming_room.pk, "reminder_set": True}
    assert api.post(remind_url(upcoming_room)).status_code == 200
    assert RoomReminder.objects.filter(user=buyer).count() == 1

    assert api.delete(remind_url(upcoming_room)).status_code == 204
    assert api.delete(remind_url(upcoming_room)).status_code == 204
    assert not RoomReminder.objects.exists()


def test_remind_me_refusals_have_stable_codes(auth_api, buyer, seller, make_room):
    live = make_room(live=True)
    answer = auth_api(buyer).post(remind_url(live))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "room_not_scheduled"

    own = auth_api(seller).post(remind_url(make_room()))
    assert own.status_code == 400
    assert own.json()["error"]["code"] == "own_room"
    assert not RoomReminder.objects.exists()


@pytest.mark.parametrize("room_id", ["999999", "abc", "1" * 40])
def test_remind_me_on_an_unknown_room_is_the_apis_404(auth_api, buyer, room_id):
    answer = auth_api(buyer).post(f"/api/v1/rooms/{room_id}/remind/")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "remind"), ("delete", "remind"), ("get", LIST), ("post", READ)],
)
def test_visitors_get_401_and_change_nothing(api_client, upcoming_room, method, path):
    url = remind_url(upcoming_room) if path == "remind" else path
    answer = getattr(api_client, method)(url, {"all": True}, format="json")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "not_authenticated"
    assert not RoomReminder.objects.exists()


@pytest.fixture
def notified(upcoming_room, make_user, remind, django_capture_on_commit_callbacks):
    """alice and bob each got "upcoming_room is live"."""
    alice, bob = make_user("alice"), make_user("bob")
    remind(alice, upcoming_room)
    remind(bob, upcoming_room)
    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_go_live(room=upcoming_room, actor=upcoming_room.seller)
    return alice, bob


def test_my_notifications_lists_only_mine_with_the_sockets_shape(auth_api, notified, upcoming_room):
    alice, bob = notified
    answer = auth_api(alice).get(LIST)
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == 1
    (item,) = body["results"]
    mine = Notification.objects.get(user=alice)
    assert item == selectors.notification_summary(mine)  # the socket pushes this very dict
    assert item["kind"] == "room_live" and item["reason"] == "reminder"
    assert item["url"] == f"/rooms/{upcoming_room.pk}/"
    assert item["room"] == {"id": upcoming_room.pk, "title": "Spring hats", "status": "live"}
    assert item["seller"]["username"] == "sam_seller"
    assert "sam_seller's shop is live" == item["title"]
    assert item["is_read"] is False and item["read_at"] is None


def test_unread_filter_and_mark_read(auth_api, notified):
    alice, _bob = notified
    api = auth_api(alice)
    assert api.get(LIST, {"unread": "true"}).json()["count"] == 1
    (mine,) = api.get(LIST).json()["results"]

    answer = api.post(READ, {"ids": [mine["id"]]}, format="json")
    assert answer.status_code == 200
    assert answer.json() == {"marked": 1, "unread_count": 0}
    assert api.get(LIST, {"unread": "true"}).json()["count"] == 0
    assert api.get(LIST).json()["results"][0]["is_read"] is True


def test_marking_someone_elses_notification_read_changes_nothing(auth_api, notified):
    alice, bob = notified
    bobs = Notification.objects.get(user=bob)

    answer = auth_api(alice).post(READ, {"ids": [bobs.pk]}, format="json")
    assert answer.status_code == 200
    assert answer.json() == {"marked": 0, "unread_count": 1}  # alice's own is still unread
    bobs.refresh_from_db()
    assert bobs.read_at is None

    everything = auth_api(alice).post(READ, {"all": True}, format="json")
    assert everything.json() == {"marked": 1, "unread_count": 0}
    bobs.refresh_from_db()
    assert bobs.read_at is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"all": False},
        {"ids": [1], "all": True},
        {"ids": "1"},
        {"ids": ["x"]},
        {"ids": [True]},
        {"ids": list(range(1, 102))},
    ],
)
def test_mark_read_refuses_bad_bodies(auth_api, notified, body):
    alice, _bob = notified
    answer = auth_api(alice).post(READ, body, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"
    assert selectors.unread_count(alice) == 1


def test_a_bad_unread_filter_is_a_400(auth_api, buyer):
    answer = auth_api(buyer).get(LIST, {"unread": "maybe"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"
