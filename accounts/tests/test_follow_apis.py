"""Seller profiles, following and the feed as a mobile app sees them: /api/v1/sellers/,
/api/v1/feed/ and /api/v1/me/following/."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from accounts import services
from accounts.models import Follow, User
from accounts.tests.helpers import deactivate, make_room
from catalog.tests.helpers import assert_error_shape

FEED = "/api/v1/feed/"
FOLLOWING = "/api/v1/me/following/"
ROOMS = "/api/v1/rooms/"

PROFILE_FIELDS = {
    "id",
    "username",
    "display_name",
    "shop_name",
    "bio",
    "avatar_url",
    "follower_count",
    "is_following",
    "live_rooms",
    "upcoming_rooms",
    "product_count",
}


def profile(user_or_id) -> str:
    return f"/api/v1/sellers/{getattr(user_or_id, 'pk', user_or_id)}/"


def follow(user_or_id) -> str:
    return f"{profile(user_or_id)}follow/"


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:500]
    return assert_error_shape(response.json(), code=code)


# --- GET /sellers/<id>/ -------------------------------------------------------------------


def test_seller_profile_shows_the_shop_its_shows_and_its_followers(
    api_client, make_user, seller, make_product
):
    services.user_update_profile(user=seller, bio="Vintage denim since 2009.")
    make_product(name="Denim jacket")
    make_product(name="Off sale", is_active=False)
    for n in range(2):
        services.seller_follow(follower=make_user(f"fan{n}"), seller=seller)
    live = make_room(seller, "On air", status="live")
    soon = make_room(seller, "Soon", starts_in=timedelta(hours=2))
    later = make_room(seller, "Later", starts_in=timedelta(days=3))
    make_room(seller, "Over", status="ended")

    response = api_client.get(profile(seller))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PROFILE_FIELDS
    assert body["id"] == seller.pk
    assert body["username"] == "sam_seller"
    assert body["display_name"] == "sam_seller"  # no display name set: the username
    assert body["shop_name"] == "sam_seller's shop"
    assert body["bio"] == "Vintage denim since 2009."
    assert body["avatar_url"] is None
    assert body["follower_count"] == 2
    assert body["is_following"] is False  # anonymous
    assert body["product_count"] == 1
    assert [room["id"] for room in body["live_rooms"]] == [live.pk]
    assert [room["id"] for room in body["upcoming_rooms"]] == [soon.pk, later.pk]


def test_seller_profile_rooms_have_the_shape_of_the_rooms_list(api_client, seller):
    make_room(seller, "On air", status="live")

    listed = api_client.get(ROOMS).json()["results"][0]
    shown = api_client.get(profile(seller)).json()["live_rooms"][0]

    assert set(shown) == set(listed)
    assert shown["stream_status"] == listed["stream_status"]


def test_seller_profile_says_whether_the_caller_follows(auth_api, buyer, seller):
    client = auth_api(buyer)
    assert client.get(profile(seller)).json()["is_following"] is False

    services.seller_follow(follower=buyer, seller=seller)

    body = client.get(profile(seller)).json()
    assert body["is_following"] is True
    assert body["follower_count"] == 1


@pytest.mark.parametrize("who", ["buyer", "deactivated seller", "unknown", "malformed", "huge"])
def test_seller_profile_of_anyone_but_an_active_seller_is_not_found(api_client, buyer, seller, who):
    if who == "deactivated seller":
        deactivate(seller)
    target = {
        "buyer": buyer.pk,
        "deactivated seller": seller.pk,
        "unknown": 987654,
        "malformed": "abc",
        "huge": 10**30,
    }[who]

    response = api_client.get(profile(target))

    assert_error(response, 404, "not_found")


# --- POST / DELETE /sellers/<id>/follow/ --------------------------------------------------


def test_follow_answers_201_then_200_when_already_following(auth_api, buyer, seller):
    client = auth_api(buyer)

    first = client.post(follow(seller))
    second = client.post(follow(seller))

    assert first.status_code == 201
    assert first.json() == {"seller_id": seller.pk, "is_following": True, "follower_count": 1}
    assert second.status_code == 200
    assert second.json() == first.json()
    assert Follow.objects.filter(follower=buyer, seller=seller).count() == 1


def test_unfollow_answers_204_and_again_204(auth_api, buyer, seller):
    client = auth_api(buyer)
    client.post(follow(seller))

    first = client.delete(follow(seller))
    second = client.delete(follow(seller))

    assert (first.status_code, second.status_code) == (204, 204)
    assert first.content == b""
    assert not Follow.objects.exists()


def test_unfollowing_a_seller_never_followed_answers_204(auth_api, buyer, seller):
    assert auth_api(buyer).delete(follow(seller)).status_code == 204


@pytest.mark.parametrize("method", ["post", "delete"])
def test_follow_and_unfollow_need_credentials(api_client, seller, method):
    response = getattr(api_client, method)(follow(seller))

    assert_error(response, 401, "not_authenticated")
    assert not Follow.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_following_with_an_invalid_token_is_refused(seller, method):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert_error(getattr(client, method)(follow(seller)), 401, "token_not_valid")


def test_following_yourself_answers_400_with_a_stable_code(auth_api, seller):
    response = auth_api(seller).post(follow(seller))

    error = assert_error(response, 400, "cannot_follow_self")
    assert error["message"] == "You cannot follow yourself."
    assert not Follow.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
@pytest.mark.parametrize("who", ["buyer", "deactivated seller", "unknown", "malformed"])
def test_following_anyone_but_an_active_seller_is_not_found(
    auth_api, make_user, buyer, seller, method, who
):
    if who == "deactivated seller":
        deactivate(seller)
    target = {"buyer": buyer.pk, "deactivated seller": seller.pk, "unknown": 987654}.get(who, "abc")

    response = getattr(auth_api(make_user("fiona_fan")), method)(follow(target))

    assert_error(response, 404, "not_found")
    assert not Follow.objects.exists()


def test_the_follower_is_always_the_caller_whatever_the_body_says(
    auth_api, make_user, buyer, seller
):
    victim = make_user("victor_victim")

    response = auth_api(buyer).post(
        follow(seller),
        {"follower": victim.pk, "follower_id": victim.pk, "user": victim.pk},
        format="json",
    )

    assert response.status_code == 201
    assert list(Follow.objects.values_list("follower", flat=True)) == [buyer.pk]


def test_unfollow_removes_only_the_callers_follow(auth_api, make_user, buyer, seller):
    fan = make_user("fiona_fan")
    services.seller_follow(follower=fan, seller=seller)
    services.seller_follow(follower=buyer, seller=seller)

    auth_api(buyer).delete(follow(seller), {"follower": fan.pk}, format="json")

    assert list(Follow.objects.values_list("follower", flat=True)) == [fan.pk]


def test_another_site_cannot_make_a_signed_in_visitor_follow(buyer, seller):
    # The website's session works on the API too: a write needs the CSRF token with it.
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(buyer)

    response = client.post(follow(seller))

    assert_error(response, 403)
    assert not Follow.objects.exists()


# --- GET /feed/ ---------------------------------------------------------------------------


def test_feed_lists_followed_sellers_live_then_upcoming_rooms(
    auth_api, buyer, seller, other_seller, make_user
):
    services.seller_follow(follower=buyer, seller=seller)
    stranger = make_user("stan_seller", seller=True)
    later = make_room(seller, "Later", starts_in=timedelta(days=2))
    live = make_room(seller, "On air", status="live")
    make_room(seller, "Over", status="ended")
    make_room(stranger, "Not followed", status="live")

    response = auth_api(buyer).get(FEED)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [room["id"] for room in body["results"]] == [live.pk, later.pk]
    assert [room["status"] for room in body["results"]] == ["live", "scheduled"]


def test_feed_items_have_the_shape_of_the_rooms_list(auth_api, api_client, buyer, seller):
    services.seller_follow(follower=buyer, seller=seller)
    make_room(seller, "On air", status="live")

    item = auth_api(buyer).get(FEED).json()["results"][0]

    assert item == api_client.get(ROOMS).json()["results"][0]


def test_feed_is_paginated(auth_api, buyer, seller):
    services.seller_follow(follower=buyer, seller=seller)
    rooms = [make_room(seller, f"Show {n}", starts_in=timedelta(hours=n + 1)) for n in range(3)]
    client = auth_api(buyer)

    first = client.get(FEED, {"page_size": 2}).json()
    second = client.get(first["next"]).json()

    assert first["count"] == 3
    ids = [room["id"] for room in first["results"] + second["results"]]
    assert ids == [room.pk for room in rooms]
    assert second["next"] is None


def test_feed_is_empty_for_someone_following_nobody(auth_api, buyer, seller):
    make_room(seller, "On air", status="live")

    body = auth_api(buyer).get(FEED).json()

    assert (body["count"], body["results"]) == (0, [])


def test_feed_needs_credentials(api_client):
    assert_error(api_client.get(FEED), 401, "not_authenticated")


# --- GET /me/following/ -------------------------------------------------------------------


def test_following_lists_the_sellers_followed_latest_first(
    auth_api, buyer, seller, other_seller, make_user
):
    gone = make_user("gone_seller", seller=True)
    for followed in (seller, other_seller, gone):
        services.seller_follow(follower=buyer, seller=followed)
    services.seller_follow(follower=make_user("fiona_fan"), seller=make_user("x", seller=True))
    deactivate(gone)

    response = auth_api(buyer).get(FOLLOWING)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    first = body["results"][0]
    assert set(first) == {
        "id",
        "username",
        "display_name",
        "shop_name",
        "avatar_url",
        "followed_at",
    }
    assert first["id"] == other_seller.pk
    assert first["shop_name"] == "olga_seller's shop"
    assert [row["username"] for row in body["results"]] == ["olga_seller", "sam_seller"]


def test_following_list_needs_credentials(api_client):
    assert_error(api_client.get(FOLLOWING), 401, "not_authenticated")


def test_a_deactivated_user_is_no_longer_counted_as_a_follower(api_client, buyer, seller):
    services.seller_follow(follower=buyer, seller=seller)
    User.objects.filter(pk=buyer.pk).update(is_active=False)

    assert api_client.get(profile(seller)).json()["follower_count"] == 0
