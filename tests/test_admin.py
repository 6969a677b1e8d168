"""Staff find users, categories and products in Django admin; nobody else gets in."""

import pytest

from accounts import services as account_services


@pytest.fixture
def staff_client(client, db):
    staff = account_services.staff_user_create(
        username="stella_staff", email="stella@example.test", password="correct-horse-42"
    )
    client.force_login(staff)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/user/?q=sam&role__exact=seller",
        "/admin/catalog/category/?q=fash",
        "/admin/catalog/product/?q=denim&is_active__exact=1",
    ],
)
def test_staff_search_and_filter_admin_lists(staff_client, make_product, url):
    make_product()
    response = staff_client.get(url)
    assert response.status_code == 200
    assert (
        "1 result" in response.text or "Denim jacket" in response.text or "Fashion" in response.text
    )


def test_staff_open_a_product_in_admin(staff_client, make_product):
    product = make_product()
    response = staff_client.get(f"/admin/catalog/product/{product.pk}/change/")
    assert response.status_code == 200
    assert "Denim jacket" in response.text


def test_sellers_and_buyers_are_kept_out_of_admin(client, seller):
    client.force_login(seller)
    response = client.get("/admin/catalog/product/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
