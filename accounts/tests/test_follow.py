"""Following sellers: the services that write follows and the selectors that read them."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction

from accounts import selectors, services
from accounts.models import Follow
from accounts.tests.helpers import deactivate, make_room
from liveshop.errors import ApplicationError

# --- seller_follow / seller_unfollow ------------------------------------------------------


def test_following_a_seller_records_who_follows_whom(buyer, seller):
    follow, created = services.seller_follow(follower=buyer, seller=seller)

    assert created is True
    assert (follow.follower, follow.seller) == (buyer, seller)
    assert follow.created_at is not None
    assert selectors.is_following(follower=buyer, seller=seller)
    assert not selectors.is_following(follower=seller, seller=buyer)


def test_following_again_changes_nothing(buyer, seller):
    first, _ = services.seller_follow(follower=buyer, seller=seller)

    again, created = services.seller_follow(follower=buyer, seller=seller)

    assert created is False
    assert again.pk == first.pk
    assert Follow.objects.count() == 1


def test_unfollowing_removes_the_follow_and_twice_changes_nothing(buyer, seller):
    services.seller_follow(follower=buyer, seller=seller)

    assert services.seller_unfollow(follower=buyer, seller=seller) is True
    assert services.seller_unfollow(follower=buyer, seller=seller) is False
    assert not selectors.is_following(follower=buyer, seller=seller)
    assert Follow.objects.count() == 0


def test_unfollowing_a_seller_never_followed_changes_nothing(buyer, seller, other_seller):
    services.seller_follow(follower=buyer, seller=other_seller)

    assert services.seller_unfollow(follower=buyer, seller=seller) is False
    assert selectors.is_following(follower=buyer, seller=other_seller)


def test_a_seller_cannot_follow_themselves(seller):
    with pytest.raises(ApplicationError) as refused:
        services.seller_follow(follower=seller, seller=seller)

    assert refused.value.code == "cannot_follow_self"
    assert refused.value.status == 400
    assert Follow.objects.count() == 0


def test_a_seller_can_follow_another_seller(seller, other_seller):
    _, created = services.seller_follow(follower=seller, seller=other_seller)

    assert created is True


def test_only_sellers_can_be_followed(buyer, make_user):
    other_buyer = make_user("bob_buyer")

    with pytest.raises(ApplicationError) as refused:
        services.seller_follow(follower=buyer, seller=other_buyer)

    assert (refused.value.code, refused.value.status) == ("not_found", 404)
    assert Follow.objects.count() == 0


def test_a_deactivated_seller_cannot_be_followed(buyer, seller):
    deactivate(seller)
    seller.refresh_from_db()

    with pytest.raises(ApplicationError) as refused:
        services.seller_follow(follower=buyer, seller=seller)

    assert refused.value.status == 404


def test_the_database_refuses_a_second_follow_of_the_same_seller(buyer, seller):
    # Two simultaneous follows (a double tap) both pass the service's "already?" check;
    # the unique constraint keeps one.
    Follow.objects.create(follower=buyer, seller=seller)

    with pytest.raises(IntegrityError), transaction.atomic():
        Follow.objects.create(follower=buyer, seller=seller)


def test_the_database_refuses_a_self_follow(seller):
    with pytest.raises(IntegrityError), transaction.atomic():
        Follow.objects.create(follower=seller, seller=seller)


def test_a_follow_that_lost_a_race_answers_the_winning_one(buyer, seller, monkeypatch):
    winner = Follow.objects.create(follower=buyer, seller=seller)
    # The race: the "already following?" read saw nothing, then the other request won.
    real_filter = Follow.objects.filter
    monkeypatch.setattr(Follow.objects, "filter", lambda **kw: real_filter(pk=None, **kw))

    follow, created = services.seller_follow(follower=buyer, seller=seller)

    assert (follow.pk, created) == (winner.pk, False)


def test_deleting_an_account_deletes_its_follows(buyer, seller):
    services.seller_follow(follower=buyer, seller=seller)

    seller.delete()

    assert Follow.objects.count() == 0


# --- counts -------------------------------------------------------------------------------


def test_follower_count_counts_active_followers_only(make_user, seller):
    fans = [make_user(f"fan{n}") for n in range(3)]
    for fan in fans:
        services.seller_follow(follower=fan, seller=seller)
    deactivate(fans[0])

    assert selectors.follower_count(seller) == 2


def test_following_count_leaves_out_deactivated_sellers(buyer, seller, other_seller):
    services.seller_follow(follower=buyer, seller=seller)
    services.seller_follow(follower=buyer, seller=other_seller)
    deactivate(other_seller)

    assert selectors.following_count(buyer) == 1
    assert [follow.seller for follow in selectors.follows_of(buyer)] == [seller]


def test_follows_of_lists_the_latest_followed_first(buyer, seller, other_seller):
    services.seller_follow(follower=buyer, seller=seller)
    services.seller_follow(follower=buyer, seller=other_seller)

    assert [follow.seller for follow in selectors.follows_of(buyer)] == [other_seller, seller]


def test_a_visitor_follows_nobody(seller):
    assert selectors.is_following(follower=AnonymousUser(), seller=seller) is False
    assert list(selectors.feed_rooms(AnonymousUser())) == []


# --- the feed -----------------------------------------------------------------------------


def test_feed_has_live_rooms_first_then_upcoming_by_start_and_no_ended_ones(
    buyer, seller, other_seller
):
    services.seller_follow(follower=buyer, seller=seller)
    services.seller_follow(follower=buyer, seller=other_seller)
    later = make_room(seller, "Later", starts_in=timedelta(days=2))
    sooner = make_room(other_seller, "Sooner", starts_in=timedelta(hours=3))
    live = make_room(seller, "On air", starts_in=timedelta(days=5), status="live")
    make_room(other_seller, "Over", status="ended")

    assert list(selectors.feed_rooms(buyer)) == [live, sooner, later]


def test_feed_leaves_out_sellers_not_followed_and_deactivated_ones(
    buyer, seller, other_seller, make_user
):
    third = make_user("tina_seller", seller=True)
    services.seller_follow(follower=buyer, seller=seller)
    services.seller_follow(follower=buyer, seller=third)
    followed = make_room(seller, "Followed", status="live")
    make_room(other_seller, "Not followed", status="live")
    make_room(third, "Gone", status="live")
    deactivate(third)

    assert list(selectors.feed_rooms(buyer)) == [followed]


def test_feed_is_only_the_users_own(buyer, seller, make_user):
    services.seller_follow(follower=make_user("someone_else"), seller=seller)
    make_room(seller, "Evening show")

    assert list(selectors.feed_rooms(buyer)) == []


def test_feed_forgets_a_seller_once_unfollowed(buyer, seller):
    services.seller_follow(follower=buyer, seller=seller)
    make_room(seller, "Evening show")

    services.seller_unfollow(follower=buyer, seller=seller)

    assert list(selectors.feed_rooms(buyer)) == []
