"""Rooms API for mobile clients: chat scroll-back, moderators, the upcoming window and the
live video's status."""

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from rooms import services
from rooms.store import get_store
from streaming import host

pytestmark = pytest.mark.django_db


def chat(room) -> str:
    return f"/api/v1/rooms/{room.pk}/chat/"


def moderators(room) -> str:
    return f"/api/v1/rooms/{room.pk}/moderators/"


def say(room, user, n: int, *, minutes_ago: float):
    return services.chat_message_record(
        room_id=room.pk,
        message_id=f"{n:032x}",
        user_id=user.pk,
        text=f"line {n}",
        sent_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def test_chat_scroll_back_pages_from_newest_to_oldest(api_client, make_room, buyer):
    room = make_room(live=True)
    for n in range(1, 8):
        say(room, buyer, n, minutes_ago=10 - n)  # line 7 is the newest

    first = api_client.get(chat(room), {"page_size": 3})
    assert first.status_code == 200
    body = first.json()
    assert [m["text"] for m in body["results"]] == ["line 7", "line 6", "line 5"]
    assert body["results"][0] == {
        "id": f"{7:032x}",
        "user": {"id": buyer.pk, "username": "bella_buyer", "display_name": "bella_buyer"},
        "text": "line 7",
        "sent_at": body["results"][0]["sent_at"],
    }
    # A line said meanwhile does not shift the older pages (a cursor, not page numbers).
    say(room, buyer, 8, minutes_ago=0)
    second = api_client.get(body["next"]).json()
    assert [m["text"] for m in second["results"]] == ["line 4", "line 3", "line 2"]
    third = api_client.get(second["next"]).json()
    assert [m["text"] for m in third["results"]] == ["line 1"]
    assert third["next"] is None


def test_chat_scroll_back_leaves_out_deleted_lines(api_client, make_room, buyer, seller):
    room = make_room(live=True)
    say(room, buyer, 1, minutes_ago=2)
    say(room, buyer, 2, minutes_ago=1)
    services.chat_message_delete(room=room, actor=seller, message_id=f"{1:032x}")
    texts = [m["text"] for m in api_client.get(chat(room)).json()["results"]]
    assert texts == ["line 2"]


def test_chat_scroll_back_page_size_is_capped(api_client, make_room, buyer):
    room = make_room(live=True)
    for n in range(1, 106):
        say(room, buyer, n, minutes_ago=200 - n)
    body = api_client.get(chat(room), {"page_size": 1000}).json()
    assert len(body["results"]) == 100
    assert parse_qs(urlparse(body["next"]).query)["cursor"]


@pytest.mark.parametrize("room_id", ["999999", "abc"])
def test_chat_of_a_missing_room_is_404(api_client, db, room_id):
    response = api_client.get(f"/api/v1/rooms/{room_id}/chat/")
    assert response.status_code == 404
    if room_id.isdigit():
        assert response.json()["error"]["code"] == "not_found"


def test_a_bad_chat_cursor_is_a_404_with_the_error_shape(api_client, make_room):
    response = api_client.get(chat(make_room(live=True)), {"cursor": "not-a-cursor"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_seller_reads_and_replaces_the_moderators(auth_api, seller, buyer, make_user, make_room):
    room = make_room(moderators=[buyer])
    mona = make_user("mona_mod")
    api = auth_api(seller)
    assert [m["username"] for m in api.get(moderators(room)).json()] == ["bella_buyer"]
    response = api.put(moderators(room), {"moderators": [mona.pk]}, format="json")
    assert response.status_code == 200, response.content
    assert [m["username"] for m in response.json()] == ["mona_mod"]
    assert list(room.moderators.all()) == [mona]
    assert api.put(moderators(room), {"moderators": []}, format="json").json() == []
    assert not room.moderators.exists()


def test_moderators_need_known_users(auth_api, seller, buyer, make_room):
    room = make_room(moderators=[buyer])
    response = auth_api(seller).put(moderators(room), {"moderators": [987654]}, format="json")
    assert response.status_code == 400
    assert "moderators" in response.json()["error"]["fields"]
    assert list(room.moderators.all()) == [buyer]


def test_nobody_else_reads_or_changes_a_rooms_moderators(
    auth_api, api_client, other_seller, buyer, make_room
):
    room = make_room(moderators=[buyer])
    assert auth_api(other_seller).get(moderators(room)).status_code == 404
    response = auth_api(other_seller).put(
        moderators(room), {"moderators": [other_seller.pk]}, format="json"
    )
    assert response.status_code == 404
    assert (
        auth_api(buyer).put(moderators(room), {"moderators": []}, format="json").status_code == 403
    )
    assert api_client.get(moderators(room)).status_code == 401
    assert list(room.moderators.all()) == [buyer]


def test_room_list_filters_by_an_upcoming_window(api_client, make_room):
    now = timezone.now()
    make_room(title="Tonight", scheduled_start=now + timedelta(hours=3))
    make_room(title="Next week", scheduled_start=now + timedelta(days=7))
    make_room(title="Tomorrow", scheduled_start=now + timedelta(hours=20))
    window = {
        "status": "scheduled",
        "starts_after": now.isoformat(),
        "starts_before": (now + timedelta(days=1)).isoformat(),
    }
    response = api_client.get("/api/v1/rooms/", window)
    assert [r["title"] for r in response.json()["results"]] == ["Tonight", "Tomorrow"]
    bad = api_client.get("/api/v1/rooms/", {"starts_after": "soon"})
    assert bad.status_code == 400
    assert "starts_after" in bad.json()["error"]["fields"]


def test_rooms_show_the_live_videos_status(api_client, make_room, seller):
    live, ended = make_room(live=True, title="Live"), make_room(live=True, title="Over")
    services.room_end(room=ended, actor=seller)
    async_to_sync(get_store().value_set)(host.status_key(live.pk), "interrupted")
    assert api_client.get(f"/api/v1/rooms/{live.pk}/").json()["stream_status"] == "interrupted"
    listed = {
        r["title"]: r["stream_status"] for r in api_client.get("/api/v1/rooms/").json()["results"]
    }
    assert listed == {"Live": "interrupted", "Over": "ended"}


@pytest.mark.parametrize("value", ["abc", "0", "-1225627"])
def test_chat_scroll_back_with_a_bad_page_size_is_a_400(api_client, make_room, value):
    response = api_client.get(chat(make_room(live=True)), {"page_size": value})

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], list(error["fields"])) == ("invalid", ["page_size"])
