"""The catalog REST API as a mobile app sees it: /api/v1/products/ and /api/v1/categories/."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from catalog import services
from catalog.models import Product
from catalog.tests.helpers import (
    FILTER_CASES,
    FILTER_FIXTURES,
    STORED_IMAGE_NAME,
    assert_error_shape,
    check_filter_case,
    pdf_as_png,
    stored_files,
    truncated_png,
)
from conftest import image_bytes, image_upload

PRODUCTS = "/api/v1/products/"
MINE = "/api/v1/products/mine/"
CATEGORIES = "/api/v1/categories/"


def detail(product_or_id) -> str:
    return f"{PRODUCTS}{getattr(product_or_id, 'pk', product_or_id)}/"


def names(response) -> list[str]:
    return [item["name"] for item in response.json()["results"]]


@pytest.fixture
def shoes(db):
    return services.category_create(name="Shoes")


@pytest.fixture
def new_product(category) -> dict:
    return {
        "name": "Linen shirt",
        "description": "Breathable, for hot days.",
        "price": "24.50",
        "stock": 7,
        "category": category.pk,
    }


# --- public reads -----------------------------------------------------------------------


def test_categories_are_listed_for_anyone(api_client, category, shoes):
    response = api_client.get(CATEGORIES)

    assert response.status_code == 200
    assert response.json() == [
        {"id": category.pk, "name": "Fashion", "slug": "fashion"},
        {"id": shoes.pk, "name": "Shoes", "slug": "shoes"},
    ]


def test_product_list_is_paginated(api_client, make_product):
    for number in range(23):
        make_product(name=f"Scarf {number}")

    first = api_client.get(PRODUCTS)
    second = api_client.get(first.json()["next"])

    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 23
    assert len(body["results"]) == 20
    assert body["previous"] is None
    assert len(second.json()["results"]) == 3
    assert second.json()["next"] is None


def test_product_list_shows_only_active_products_of_active_sellers(
    api_client, make_product, make_user, category
):
    make_product(name="On sale")
    make_product(name="Off sale", is_active=False)
    gone = make_user("gone_seller", seller=True)
    make_product(name="Banned seller's lamp", seller=gone)
    gone.is_active = False
    gone.save(update_fields=["is_active"])

    response = api_client.get(PRODUCTS)

    assert names(response) == ["On sale"]


def test_product_list_shows_what_a_shopper_needs(api_client, make_product, seller, category):
    product = make_product(name="Denim jacket", price=Decimal("59.00"), stock=3)

    item = api_client.get(PRODUCTS).json()["results"][0]

    assert item["id"] == product.pk
    assert item["price"] == "59.00"
    assert item["currency"] == "USD"
    assert item["in_stock"] is True
    assert item["image_url"] is None
    assert item["category"] == {"id": category.pk, "name": "Fashion", "slug": "fashion"}
    assert item["seller"]["username"] == seller.username
    assert item["url"] == product.get_absolute_url()


def test_product_detail_is_public_for_a_product_on_sale(api_client, make_product):
    product = make_product(name="Wool hat")

    response = api_client.get(detail(product))

    assert response.status_code == 200
    assert response.json()["name"] == "Wool hat"


def test_inactive_product_detail_is_404_for_anonymous_visitors(api_client, make_product):
    product = make_product(is_active=False)

    response = api_client.get(detail(product))

    assert response.status_code == 404
    assert_error_shape(response.json(), code="not_found")


def test_inactive_product_detail_is_404_for_other_users(
    auth_api, make_product, buyer, other_seller
):
    product = make_product(is_active=False)

    assert auth_api(buyer).get(detail(product)).status_code == 404
    assert auth_api(other_seller).get(detail(product)).status_code == 404


def test_seller_can_see_their_own_inactive_product(auth_api, make_product, seller):
    product = make_product(is_active=False)

    response = auth_api(seller).get(detail(product))

    assert response.status_code == 200
    assert response.json()["is_active"] is False


@pytest.mark.parametrize(
    "product_id", ["987654", "not-a-number", "507f1f77bcf86cd799439011", "9" * 30]
)
def test_missing_product_or_malformed_id_is_404(api_client, db, product_id):
    response = api_client.get(detail(product_id))

    assert response.status_code == 404
    assert_error_shape(response.json(), code="not_found")


# --- filters (the same query parameters as the product list page) -----------------------


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda case: case.__name__)
@pytest.mark.usefixtures(*FILTER_FIXTURES)
def test_filters_list_what_they_ask_for(api_client, request, case):
    check_filter_case(case, request, lambda params: names(api_client.get(PRODUCTS, params)))


@pytest.mark.parametrize(
    "params, field",
    [
        ({"min_price": "abc"}, "min_price"),
        ({"max_price": "-1"}, "max_price"),
        ({"ordering": "bogus"}, "ordering"),
        ({"category": "unknown-slug"}, "category"),
    ],
)
def test_invalid_filter_value_is_a_400_with_the_error_shape(
    api_client, make_product, params, field
):
    make_product()

    response = api_client.get(PRODUCTS, params)

    assert response.status_code == 400
    error = assert_error_shape(response.json(), code="invalid")
    assert field in error["fields"]


# --- creating products ------------------------------------------------------------------


def test_seller_creates_a_product_with_json(auth_api, seller, category, new_product):
    response = auth_api(seller).post(PRODUCTS, new_product, format="json")

    assert response.status_code == 201
    body = response.json()
    product = Product.objects.get(pk=body["id"])
    assert product.seller == seller
    assert product.name == "Linen shirt"
    assert product.price == Decimal("24.50")
    assert product.stock == 7
    assert product.category == category
    assert product.is_active is True
    assert body["seller"]["username"] == seller.username
    assert body["image_url"] is None


def test_created_product_belongs_to_the_caller_even_if_the_body_names_another_seller(
    auth_api, seller, other_seller, new_product
):
    response = auth_api(seller).post(
        PRODUCTS, {**new_product, "seller": other_seller.pk}, format="json"
    )

    assert response.status_code == 201
    assert Product.objects.get(pk=response.json()["id"]).seller == seller
    assert not Product.objects.filter(seller=other_seller).exists()


def test_seller_creates_a_product_with_an_image(auth_api, seller, new_product):
    original = image_bytes("PNG")
    upload = image_upload("my holiday photo.png")

    response = auth_api(seller).post(PRODUCTS, {**new_product, "image": upload}, format="multipart")

    assert response.status_code == 201
    body = response.json()
    product = Product.objects.get(pk=body["id"])
    assert STORED_IMAGE_NAME.match(product.image.name), product.image.name
    assert "holiday" not in product.image.name
    assert body["image_url"].startswith("http://testserver/media/products/")
    assert body["image_url"].endswith(product.image.name)
    stored = product.image.read()
    assert stored != original  # re-encoded, not the uploaded bytes
    with Image.open(product.image.path) as picture:
        assert picture.size == (64, 48)
    assert len(stored_files()) == 1


def test_buyer_cannot_create_a_product(auth_api, buyer, new_product):
    response = auth_api(buyer).post(PRODUCTS, new_product, format="json")

    assert response.status_code == 403
    assert_error_shape(response.json(), code="permission_denied")
    assert not Product.objects.exists()


def test_anonymous_visitor_cannot_create_a_product(api_client, new_product):
    response = api_client.post(PRODUCTS, new_product, format="json")

    assert response.status_code == 401
    assert_error_shape(response.json(), code="not_authenticated")
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"price": "0"}, "price"),
        ({"price": "0.00"}, "price"),
        ({"price": "-5"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"price": "1000000000000"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": "Infinity"}, "price"),
        ({"stock": -1}, "stock"),
        ({"stock": "x"}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"stock": 10**20}, "stock"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"category": 987654}, "category"),
        ({"currency": "XYZ"}, "currency"),
    ],
)
def test_invalid_product_is_refused_with_field_errors_and_nothing_created(
    auth_api, seller, new_product, changes, field
):
    response = auth_api(seller).post(PRODUCTS, {**new_product, **changes}, format="json")

    assert response.status_code == 400
    error = assert_error_shape(response.json(), code="invalid")
    assert field in error["fields"]
    assert not Product.objects.exists()


def test_missing_name_is_refused(auth_api, seller, new_product):
    del new_product["name"]

    response = auth_api(seller).post(PRODUCTS, new_product, format="json")

    assert response.status_code == 400
    assert "name" in assert_error_shape(response.json())["fields"]
    assert not Product.objects.exists()


def test_ten_megabyte_name_is_refused(auth_api, seller, new_product):
    response = auth_api(seller).post(
        PRODUCTS, {**new_product, "name": "n" * 10_000_000}, format="json"
    )

    # Refused before it is even parsed: the body is over DATA_UPLOAD_MAX_MEMORY_SIZE.
    assert response.status_code == 400
    assert_error_shape(response.json(), code="parse_error")
    assert len(response.content) < 10_000  # the answer does not echo the name back
    assert not Product.objects.exists()


def test_one_megabyte_name_is_refused_as_a_field_error(auth_api, seller, new_product):
    response = auth_api(seller).post(
        PRODUCTS, {**new_product, "name": "n" * 1_000_000}, format="json"
    )

    assert response.status_code == 400
    assert "name" in assert_error_shape(response.json(), code="invalid")["fields"]
    assert len(response.content) < 10_000
    assert not Product.objects.exists()


def test_ten_megabyte_name_in_a_multipart_form_is_refused(auth_api, seller, new_product):
    response = auth_api(seller).post(
        PRODUCTS, {**new_product, "name": "n" * 10_000_000}, format="multipart"
    )

    assert response.status_code == 400
    assert_error_shape(response.json())
    assert not Product.objects.exists()


@pytest.mark.parametrize("bad_image", [pdf_as_png, truncated_png], ids=["pdf-as-png", "truncated"])
def test_a_file_that_is_not_a_whole_image_is_refused(auth_api, seller, new_product, bad_image):
    response = auth_api(seller).post(
        PRODUCTS, {**new_product, "image": bad_image()}, format="multipart"
    )

    assert response.status_code == 400
    assert "image" in assert_error_shape(response.json(), code="invalid")["fields"]
    assert not Product.objects.exists()
    assert stored_files() == []


def test_image_bigger_than_the_memory_buffer_is_accepted(auth_api, seller, new_product):
    # Over FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) Django streams the upload to a temporary
    # file; under the 5 MB limit it is still a valid picture.
    padded = image_bytes("PNG") + b"\0" * (3 * 1024 * 1024)
    upload = SimpleUploadedFile("big.png", padded, content_type="image/png")

    response = auth_api(seller).post(PRODUCTS, {**new_product, "image": upload}, format="multipart")

    assert response.status_code == 201
    product = Product.objects.get()
    assert product.image.size < 100_000  # re-encoded: the padding is gone


def test_image_over_five_megabytes_is_refused(auth_api, seller, new_product):
    padded = image_bytes("PNG") + b"\0" * (5 * 1024 * 1024)
    upload = SimpleUploadedFile("huge.png", padded, content_type="image/png")

    response = auth_api(seller).post(PRODUCTS, {**new_product, "image": upload}, format="multipart")

    assert response.status_code == 400
    error = assert_error_shape(response.json(), code="invalid")
    assert "5 MB" in error["fields"]["image"][0]
    assert not Product.objects.exists()
    assert stored_files() == []


# --- changing products ------------------------------------------------------------------


def test_seller_changes_price_and_stock_of_their_own_product(auth_api, seller, make_product):
    product = make_product(price=Decimal("59.00"), stock=5)

    response = auth_api(seller).patch(
        detail(product), {"price": "45.90", "stock": 12}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["price"] == "45.90"
    product.refresh_from_db()
    assert product.price == Decimal("45.90")
    assert product.stock == 12


def test_seller_replaces_their_own_product_with_put(auth_api, seller, make_product, shoes):
    product = make_product()

    response = auth_api(seller).put(
        detail(product),
        {"name": "Trail runners", "price": "80.00", "stock": 1, "category": shoes.pk},
        format="json",
    )

    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.name, product.price, product.stock, product.category) == (
        "Trail runners",
        Decimal("80.00"),
        1,
        shoes,
    )


def test_seller_cannot_move_their_product_to_another_seller(
    auth_api, seller, other_seller, make_product
):
    product = make_product()

    response = auth_api(seller).patch(
        detail(product), {"seller": other_seller.pk, "stock": 3}, format="json"
    )

    assert response.status_code == 200
    product.refresh_from_db()
    assert product.seller == seller


def test_invalid_change_is_refused_and_leaves_the_product_unchanged(auth_api, seller, make_product):
    product = make_product(price=Decimal("59.00"), stock=5)

    response = auth_api(seller).patch(detail(product), {"price": "0", "stock": -1}, format="json")

    assert response.status_code == 400
    assert {"price", "stock"} <= set(assert_error_shape(response.json())["fields"])
    product.refresh_from_db()
    assert (product.price, product.stock) == (Decimal("59.00"), 5)


def test_broken_image_on_change_is_refused_and_keeps_the_old_image(auth_api, seller, make_product):
    product = make_product(image=image_upload())
    old_name = product.image.name

    response = auth_api(seller).patch(
        detail(product), {"image": pdf_as_png(), "stock": 1}, format="multipart"
    )

    assert response.status_code == 400
    product.refresh_from_db()
    assert product.image.name == old_name
    assert product.stock == 5
    assert len(stored_files()) == 1


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_seller_cannot_change_another_sellers_product_via_api(
    auth_api, other_seller, make_product, shoes, method
):
    product = make_product(name="Denim jacket", price=Decimal("59.00"), stock=5)
    body = {"name": "Mine now", "price": "1.00", "stock": 0, "category": shoes.pk}

    response = getattr(auth_api(other_seller), method)(detail(product), body, format="json")

    assert response.status_code == 404  # exactly like a product that does not exist
    assert_error_shape(response.json(), code="not_found")
    product.refresh_from_db()
    assert (product.name, product.price, product.stock, product.is_active) == (
        "Denim jacket",
        Decimal("59.00"),
        5,
        True,
    )


def test_buyer_cannot_change_a_product(auth_api, buyer, make_product):
    product = make_product(stock=5)

    response = auth_api(buyer).patch(detail(product), {"stock": 0}, format="json")

    assert response.status_code == 404
    product.refresh_from_db()
    assert product.stock == 5


def test_anonymous_visitor_cannot_change_or_delete_a_product(api_client, make_product):
    product = make_product(stock=5)

    assert api_client.patch(detail(product), {"stock": 0}, format="json").status_code == 401
    assert api_client.delete(detail(product)).status_code == 401
    product.refresh_from_db()
    assert product.stock == 5 and product.is_active


def test_deleting_own_product_takes_it_off_sale_but_keeps_it(
    auth_api, api_client, seller, make_product
):
    product = make_product()

    response = auth_api(seller).delete(detail(product))

    assert response.status_code == 204
    product.refresh_from_db()
    assert product.is_active is False
    assert api_client.get(detail(product)).status_code == 404
    assert api_client.get(PRODUCTS).json()["count"] == 0


# --- the seller's own list --------------------------------------------------------------


def test_mine_lists_own_products_including_inactive_ones(
    auth_api, seller, other_seller, make_product
):
    make_product(name="On sale")
    make_product(name="Off sale", is_active=False)
    make_product(name="Olga's vase", seller=other_seller)

    response = auth_api(seller).get(MINE)

    assert response.status_code == 200
    assert set(response.json()) == {"count", "next", "previous", "results"}
    assert sorted(names(response)) == ["Off sale", "On sale"]


def test_buyer_cannot_open_mine(auth_api, buyer):
    response = auth_api(buyer).get(MINE)

    assert response.status_code == 403
    assert_error_shape(response.json(), code="permission_denied")


def test_anonymous_visitor_cannot_open_mine(api_client, db):
    assert api_client.get(MINE).status_code == 401


# --- performance ------------------------------------------------------------------------


def _list_queries(api_client, make_product, other_seller, shoes, count: int) -> int:
    Product.objects.all().delete()
    for number in range(count):
        extra = {"seller": other_seller, "category": shoes} if number % 2 else {}
        make_product(name=f"Item {number}", **extra)
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(PRODUCTS)
    assert response.status_code == 200
    assert len(response.json()["results"]) == count
    return len(queries)


def test_product_list_api_query_count_does_not_grow_with_products(
    api_client, make_product, other_seller, shoes
):
    few = _list_queries(api_client, make_product, other_seller, shoes, 2)
    many = _list_queries(api_client, make_product, other_seller, shoes, 20)

    assert few == many
    assert many <= 3


@pytest.mark.parametrize("value", ["maybe", "2", "-58800"])
def test_in_stock_filter_with_another_word_is_a_400(api_client, make_product, value):
    make_product(name="Available", stock=2)

    response = api_client.get(PRODUCTS, {"in_stock": value})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["in_stock"]


def test_an_empty_in_stock_is_no_filter(api_client, make_product):
    make_product(name="Available", stock=2)
    make_product(name="Sold out", stock=0)

    assert sorted(names(api_client.get(PRODUCTS, {"in_stock": ""}))) == ["Available", "Sold out"]


@pytest.mark.parametrize("value", ["abc", "null", "0", "-5", "1.5"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_a_400(api_client, make_product, value):
    make_product(name="Available", stock=2)

    response = api_client.get(PRODUCTS, {"page_size": value})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["page_size"]


@pytest.mark.parametrize(("value", "shown"), [("", 20), ("3", 3), ("500", 100)])
def test_page_size_empty_is_the_default_and_above_100_is_100(
    api_client, make_product, value, shown
):
    for n in range(101):
        make_product(name=f"Product {n}", stock=1)

    response = api_client.get(PRODUCTS, {"page_size": value})

    assert response.status_code == 200
    assert len(response.json()["results"]) == shown
