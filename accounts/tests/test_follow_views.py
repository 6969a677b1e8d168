"""Following on the website: the Follow button on a seller's page and the Following page."""

from datetime import timedelta

import pytest
from django.test import Client

from accounts import services
from accounts.models import Follow
from accounts.tests.helpers import deactivate, make_room

FOLLOWING = "/following/"


def page(seller) -> str:
    return f"/sellers/{seller.username}/"


def follow_url(seller) -> str:
    return f"{page(seller)}follow/"


def unfollow_url(seller) -> str:
    return f"{page(seller)}unfollow/"


def form_posting_to(url: str) -> str:
    return f'<form method="post" action="{url}">'


# --- the button on the seller's page ------------------------------------------------------


def test_seller_page_offers_a_signed_in_shopper_to_follow(client, buyer, seller):
    client.force_login(buyer)

    response = client.get(page(seller))

    assert response.status_code == 200
    assert form_posting_to(follow_url(seller)) in response.text
    assert "csrfmiddlewaretoken" in response.text
    assert "0 followers" in response.text


def test_seller_page_offers_to_unfollow_a_followed_seller(client, buyer, seller):
    services.seller_follow(follower=buyer, seller=seller)
    client.force_login(buyer)

    response = client.get(page(seller))

    assert form_posting_to(unfollow_url(seller)) in response.text
    assert form_posting_to(follow_url(seller)) not in response.text
    assert "1 follower<" in response.text


def test_seller_page_asks_visitors_to_log_in_to_follow(client, seller):
    response = client.get(page(seller))

    assert "Log in to follow" in response.text
    assert f'href="/accounts/login/?next=/sellers/{seller.username}/"' in response.text
    assert form_posting_to(follow_url(seller)) not in response.text


def test_seller_sees_no_follow_button_on_their_own_page(client, seller):
    client.force_login(seller)

    response = client.get(page(seller))

    assert form_posting_to(follow_url(seller)) not in response.text
    assert "Log in to follow" not in response.text
    assert "Edit your shop" in response.text


def test_seller_page_shows_the_sellers_live_and_upcoming_shows(client, seller):
    make_room(seller, "Denim night", status="live")
    make_room(seller, "Spring preview", starts_in=timedelta(days=1))
    make_room(seller, "Last week's show", status="ended")

    response = client.get(page(seller))

    assert "Denim night" in response.text
    assert "Spring preview" in response.text
    assert "Last week&#x27;s show" not in response.text


def test_follow_button_follows_and_goes_back_to_the_seller(client, buyer, seller):
    client.force_login(buyer)

    response = client.post(follow_url(seller), follow=True)

    assert response.redirect_chain == [(page(seller), 302)]
    assert Follow.objects.filter(follower=buyer, seller=seller).exists()
    assert form_posting_to(unfollow_url(seller)) in response.text
    assert "1 follower<" in response.text
    assert "You follow sam_seller&#x27;s shop" in response.text


def test_follow_button_twice_keeps_one_follow(client, buyer, seller):
    client.force_login(buyer)

    client.post(follow_url(seller))
    client.post(follow_url(seller))

    assert Follow.objects.filter(follower=buyer).count() == 1


def test_unfollow_button_unfollows_and_goes_back_to_the_seller(client, buyer, seller):
    services.seller_follow(follower=buyer, seller=seller)
    client.force_login(buyer)

    response = client.post(unfollow_url(seller), follow=True)

    assert response.redirect_chain == [(page(seller), 302)]
    assert not Follow.objects.exists()
    assert form_posting_to(follow_url(seller)) in response.text
    assert "You no longer follow" in response.text


def test_follow_buttons_go_back_to_the_page_they_were_on(client, buyer, seller):
    client.force_login(buyer)

    response = client.post(follow_url(seller), {"next": "/following/?page=1"})

    assert response.status_code == 302
    assert response["Location"] == "/following/?page=1"


def test_follow_buttons_never_send_to_another_site(client, buyer, seller):
    client.force_login(buyer)

    response = client.post(follow_url(seller), {"next": "https://evil.example/phish"})

    assert response["Location"] == page(seller)


@pytest.mark.parametrize("url", [follow_url, unfollow_url])
def test_visitors_are_sent_to_log_in_and_back_to_the_seller(client, seller, url):
    response = client.post(url(seller))

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/sellers/{seller.username}/"
    assert not Follow.objects.exists()


def test_following_yourself_on_the_website_is_refused_with_a_message(client, seller):
    client.force_login(seller)

    response = client.post(follow_url(seller), follow=True)

    assert "You cannot follow yourself." in response.text
    assert not Follow.objects.exists()


def test_following_a_buyer_or_deactivated_seller_is_not_found(client, make_user, buyer, seller):
    deactivate(seller)
    client.force_login(make_user("fiona_fan"))

    assert client.post(follow_url(buyer)).status_code == 404
    assert client.post(follow_url(seller)).status_code == 404
    assert not Follow.objects.exists()


def test_follow_button_only_takes_posts(client, buyer, seller):
    client.force_login(buyer)

    assert client.get(follow_url(seller)).status_code == 405
    assert not Follow.objects.exists()


def test_another_site_cannot_make_a_shopper_follow(buyer, seller):
    client = Client(enforce_csrf_checks=True)
    client.force_login(buyer)

    response = client.post(follow_url(seller))

    assert response.status_code == 403
    assert not Follow.objects.exists()


# --- the Following page -------------------------------------------------------------------


def test_following_page_lists_followed_sellers_live_and_upcoming_shows(
    client, buyer, seller, other_seller
):
    services.seller_follow(follower=buyer, seller=seller)
    make_room(seller, "Later show", starts_in=timedelta(days=2))
    make_room(seller, "On air now", status="live")
    make_room(seller, "Old show", status="ended")
    make_room(other_seller, "Not followed", status="live")
    client.force_login(buyer)

    response = client.get(FOLLOWING)

    assert response.status_code == 200
    text = response.text
    assert text.index("On air now") < text.index("Later show")
    assert "Old show" not in text
    assert "Not followed" not in text
    assert form_posting_to(unfollow_url(seller)) in text  # the shops followed, to unfollow


def test_following_page_says_when_nobody_is_followed(client, buyer):
    client.force_login(buyer)

    response = client.get(FOLLOWING)

    assert "You don't follow any shop yet." in response.text


def test_following_page_needs_login(client):
    response = client.get(FOLLOWING)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/following/"


def test_nav_links_to_following_for_signed_in_users_only(client, buyer):
    assert 'href="/following/"' not in client.get("/").text

    client.force_login(buyer)

    assert 'href="/following/"' in client.get("/").text
