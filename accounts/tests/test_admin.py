"""Staff look up who follows whom in Django admin; follows are made by users only."""

import pytest

from accounts import services
from accounts.models import Follow


@pytest.fixture
def staff_client(client, db):
    staff = services.staff_user_create(
        username="stella_staff", email="stella@example.test", password="correct-horse-42"
    )
    client.force_login(staff)
    return client


def test_staff_find_follows_by_seller_or_follower(staff_client, buyer, seller, other_seller):
    services.seller_follow(follower=buyer, seller=seller)
    services.seller_follow(follower=buyer, seller=other_seller)

    response = staff_client.get("/admin/accounts/follow/?q=sam_seller")

    assert response.status_code == 200
    assert "1 follow" in response.text
    assert "sam_seller" in response.text
    assert "olga_seller" not in response.text


def test_staff_cannot_add_or_change_follows_but_may_remove_one(staff_client, buyer, seller):
    follow, _ = services.seller_follow(follower=buyer, seller=seller)

    assert staff_client.get("/admin/accounts/follow/add/").status_code == 403
    change = staff_client.post(
        f"/admin/accounts/follow/{follow.pk}/change/", {"follower": seller.pk}
    )
    assert change.status_code == 403
    assert Follow.objects.get().follower == buyer
    staff_client.post(f"/admin/accounts/follow/{follow.pk}/delete/", {"post": "yes"})
    assert not Follow.objects.exists()
