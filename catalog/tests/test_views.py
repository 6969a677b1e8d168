"""Catalog pages: the shop window (home, product list, product page) and the seller's pages."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import services
from catalog.models import Product
from catalog.tests.helpers import (
    FILTER_CASES,
    FILTER_FIXTURES,
    STORED_IMAGE_NAME,
    check_filter_case,
    pdf_as_png,
    stored_files,
)
from conftest import image_bytes, image_upload

LIST = "/products/"
SELLER_LIST = "/seller/products/"
SELLER_NEW = "/seller/products/new/"


def edit_url(product) -> str:
    return f"/seller/products/{product.pk}/edit/"


def deactivate_url(product) -> str:
    return f"/seller/products/{product.pk}/deactivate/"


def shown(response) -> list[str]:
    """Names of the products on the page the view rendered."""
    return [product.name for product in response.context["page"].object_list]


@pytest.fixture
def shoes(db):
    return services.category_create(name="Shoes")


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


@pytest.fixture
def form_data(category) -> dict:
    return {
        "name": "Linen shirt",
        "description": "Breathable, for hot days.",
        "category": category.pk,
        "price": "24.50",
        "currency": "USD",
        "stock": "7",
        "is_active": "on",
    }


# --- home and product list --------------------------------------------------------------


def test_home_page_shows_featured_products(client, make_product):
    make_product(name="Velvet blazer", stock=2)
    make_product(name="Sold-out boots", stock=0)
    make_product(name="Hidden lamp", is_active=False)

    response = client.get("/")

    assert response.status_code == 200
    assert [product.name for product in response.context["featured"]] == ["Velvet blazer"]
    assert "Velvet blazer" in response.text
    assert "Hidden lamp" not in response.text


def test_product_list_shows_active_products_of_active_sellers(client, make_product, make_user):
    make_product(name="Velvet blazer")
    make_product(name="Hidden lamp", is_active=False)
    gone = make_user("gone_seller", seller=True)
    make_product(name="Banned vase", seller=gone)
    gone.is_active = False
    gone.save(update_fields=["is_active"])

    response = client.get(LIST)

    assert response.status_code == 200
    assert shown(response) == ["Velvet blazer"]
    assert "Velvet blazer" in response.text
    assert "Hidden lamp" not in response.text
    assert "Banned vase" not in response.text


def test_product_list_paginates_twelve_per_page(client, make_product):
    for number in range(13):
        make_product(name=f"Scarf {number:02}")

    first = client.get(LIST)
    second = client.get(LIST, {"page": 2})

    assert len(shown(first)) == 12
    assert shown(second) == ["Scarf 00"]  # newest first: the oldest is alone on page 2
    assert first.context["page"].paginator.count == 13


def test_pagination_links_keep_the_filters(client, make_product):
    for number in range(13):
        make_product(name=f"Scarf {number:02}")

    response = client.get(LIST, {"q": "scarf", "page": 1})

    assert response.context["query_string"] == "q=scarf"


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda case: case.__name__)
@pytest.mark.usefixtures(*FILTER_FIXTURES)
def test_product_list_filters_list_what_they_ask_for(client, request, case):
    check_filter_case(case, request, lambda params: shown(client.get(LIST, params)))


@pytest.mark.parametrize(
    "params",
    [
        {"min_price": "abc"},
        {"max_price": "-3"},
        {"ordering": "bogus"},
        {"category": "unknown-slug"},
        {"in_stock": "maybe"},
        {"q": "x" * 500},
        {"page": "abc"},
        {"page": "9999"},
        {"page": "-1"},
    ],
)
def test_invalid_filters_still_show_the_page(client, make_product, params):
    make_product(name="Velvet blazer")

    response = client.get(LIST, params)

    assert response.status_code == 200
    assert "Velvet blazer" in response.text


def test_an_invalid_filter_is_ignored_but_the_valid_ones_still_apply(client, make_product):
    make_product(name="Velvet blazer", price=Decimal("80.00"))
    make_product(name="Cotton tee", price=Decimal("15.00"))

    response = client.get(LIST, {"max_price": "20", "min_price": "abc"})

    assert response.status_code == 200
    assert "Cotton tee" in response.text
    assert "Velvet blazer" not in response.text
    assert "Some filters were ignored" in response.text


def _page_queries(client, make_product, other_seller, shoes, count: int) -> int:
    Product.objects.all().delete()
    for number in range(count):
        extra = {"seller": other_seller, "category": shoes} if number % 2 else {}
        make_product(name=f"Item {number}", image=image_upload() if number < 2 else None, **extra)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST)
    assert response.status_code == 200
    assert len(shown(response)) == min(count, 12)
    return len(queries)


def test_product_list_page_query_count_does_not_grow_with_products(
    client, make_product, other_seller, shoes
):
    few = _page_queries(client, make_product, other_seller, shoes, 2)
    many = _page_queries(client, make_product, other_seller, shoes, 30)

    assert few == many


def test_home_page_query_count_does_not_grow_with_products(
    client, make_product, other_seller, shoes
):
    def queries_for(count: int) -> int:
        Product.objects.all().delete()
        for number in range(count):
            extra = {"seller": other_seller, "category": shoes} if number % 2 else {}
            make_product(name=f"Item {number}", **extra)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        return len(queries)

    assert queries_for(2) == queries_for(8)


def test_product_names_are_escaped_on_list_home_and_detail_pages(client, make_product):
    product = make_product(name='<script>alert("pwned")</script> Jacket')

    for url in ("/", LIST, product.get_absolute_url()):
        page = client.get(url).text
        assert '<script>alert("pwned")' not in page, url
        assert "&lt;script&gt;" in page, url


def test_product_description_html_is_escaped(client, make_product):
    product = make_product(description='<img src=x onerror="alert(1)"> Soft wool.')

    page = client.get(product.get_absolute_url()).text

    assert "<img src=x" not in page
    assert "&lt;img src=x" in page


def test_seller_pages_escape_product_names(seller_client, make_product):
    product = make_product(name="<b>Bold</b> hat")

    for url in (SELLER_LIST, edit_url(product)):
        page = seller_client.get(url).text
        assert "<b>Bold</b>" not in page, url
        assert "&lt;b&gt;Bold&lt;/b&gt;" in page, url


# --- product page -----------------------------------------------------------------------


def test_product_page_shows_the_product(client, make_product):
    product = make_product(name="Velvet blazer", price=Decimal("89.90"), description="Deep green.")

    response = client.get(product.get_absolute_url())

    assert response.status_code == 200
    assert response.context["product"] == product
    assert "Velvet blazer" in response.text
    assert "89.90" in response.text
    assert "Deep green." in response.text


def test_product_page_with_a_wrong_slug_redirects_to_the_right_one(client, make_product):
    product = make_product(name="Velvet blazer")

    response = client.get(f"/products/{product.pk}/old-name/")

    assert response.status_code == 301
    assert response["Location"] == product.get_absolute_url()


@pytest.mark.parametrize("product_id", ["987654", "507f1f77bcf86cd799439011"])
def test_missing_product_is_404_on_every_page(seller_client, product_id):
    assert seller_client.get(f"/products/{product_id}/anything/").status_code == 404
    assert seller_client.get(f"/seller/products/{product_id}/edit/").status_code == 404
    assert seller_client.post(f"/seller/products/{product_id}/deactivate/").status_code == 404


def test_inactive_product_page_is_404_to_visitors_and_other_users(
    client, make_product, buyer, other_seller
):
    product = make_product(is_active=False)

    assert client.get(product.get_absolute_url()).status_code == 404
    client.force_login(buyer)
    assert client.get(product.get_absolute_url()).status_code == 404
    client.force_login(other_seller)
    assert client.get(product.get_absolute_url()).status_code == 404


def test_seller_sees_their_own_inactive_product_page(seller_client, make_product):
    product = make_product(name="Hidden lamp", is_active=False)

    response = seller_client.get(product.get_absolute_url())

    assert response.status_code == 200
    assert "Hidden lamp" in response.text


# --- who may open seller pages ----------------------------------------------------------


def _seller_urls(product) -> list[str]:
    return [SELLER_LIST, SELLER_NEW, edit_url(product)]


def test_anonymous_visitor_is_sent_to_login_from_seller_pages(client, make_product):
    product = make_product()

    for url in _seller_urls(product):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"/accounts/login/?next={url}"
    response = client.post(deactivate_url(product))
    assert response["Location"].startswith("/accounts/login/")
    product.refresh_from_db()
    assert product.is_active is True


def test_buyer_is_offered_to_open_a_shop_from_seller_pages(client, buyer, make_product):
    product = make_product()
    client.force_login(buyer)

    for url in _seller_urls(product):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == "/accounts/become-seller/"
    assert client.post(deactivate_url(product))["Location"] == "/accounts/become-seller/"
    assert client.post(SELLER_NEW, {"name": "x"})["Location"] == "/accounts/become-seller/"
    assert Product.objects.count() == 1
    product.refresh_from_db()
    assert product.is_active is True


# --- the seller's product list ----------------------------------------------------------


def test_seller_products_page_lists_only_own_products(seller_client, make_product, other_seller):
    make_product(name="On sale")
    make_product(name="Off sale", is_active=False)
    make_product(name="Olga's vase", seller=other_seller)

    response = seller_client.get(SELLER_LIST)

    assert response.status_code == 200
    assert sorted(shown(response)) == ["Off sale", "On sale"]
    assert "Olga&#x27;s vase" not in response.text and "Olga's vase" not in response.text


# --- creating a product -----------------------------------------------------------------


def test_seller_sees_an_empty_product_form(seller_client, category):
    response = seller_client.get(SELLER_NEW)

    assert response.status_code == 200
    assert 'name="name"' in response.text
    assert 'type="file"' in response.text


def test_seller_creates_a_product_with_an_image(seller_client, seller, category, form_data):
    response = seller_client.post(
        SELLER_NEW, {**form_data, "image": image_upload("my holiday.png")}
    )

    assert response.status_code == 302
    assert response["Location"] == SELLER_LIST
    product = Product.objects.get()
    assert product.seller == seller
    assert (product.name, product.price, product.stock) == ("Linen shirt", Decimal("24.50"), 7)
    assert product.is_active is True
    assert STORED_IMAGE_NAME.match(product.image.name), product.image.name
    assert "Linen shirt" in seller_client.get(SELLER_LIST).text


def test_seller_creates_a_product_without_an_image(seller_client, form_data):
    response = seller_client.post(SELLER_NEW, form_data)

    assert response.status_code == 302
    assert not Product.objects.get().image


def test_created_product_belongs_to_the_seller_even_if_the_form_names_another(
    seller_client, seller, other_seller, form_data
):
    seller_client.post(SELLER_NEW, {**form_data, "seller": other_seller.pk})

    assert Product.objects.get().seller == seller


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"price": "0"}, "price"),
        ({"price": "-5"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"stock": "-1"}, "stock"),
        ({"stock": "x"}, "stock"),
        ({"name": ""}, "name"),
        ({"category": "987654"}, "category"),
        ({"currency": "XYZ"}, "currency"),
        ({"image": "pdf"}, "image"),
    ],
)
def test_invalid_product_form_shows_errors_keeps_input_and_creates_nothing(
    seller_client, form_data, changes, field
):
    data = {**form_data, **changes}
    if data.get("image") == "pdf":
        data["image"] = pdf_as_png()

    response = seller_client.post(SELLER_NEW, data)

    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors
    assert form.errors[field][0] in response.text.replace("&#x27;", "'")
    if field != "name":
        assert 'value="Linen shirt"' in response.text  # what was typed is still there
    assert "Breathable, for hot days." in response.text
    assert not Product.objects.exists()
    assert stored_files() == []


def test_image_over_five_megabytes_shows_an_error_and_creates_nothing(seller_client, form_data):
    padded = image_bytes("PNG") + b"\0" * (5 * 1024 * 1024)
    upload = SimpleUploadedFile("huge.png", padded, content_type="image/png")

    response = seller_client.post(SELLER_NEW, {**form_data, "image": upload})

    assert response.status_code == 200
    assert "image" in response.context["form"].errors
    assert "5 MB" in response.text
    assert not Product.objects.exists()
    assert stored_files() == []


# --- editing a product ------------------------------------------------------------------


def test_saving_the_edit_form_keeps_units_bought_while_it_was_open(
    seller_client, make_product, form_data
):
    product = make_product(stock=5)
    shown = seller_client.get(edit_url(product))
    assert 'name="stock_seen" value="5"' in shown.text
    Product.objects.filter(pk=product.pk).update(stock=2)  # a buyer checked out 3 meanwhile

    seller_client.post(
        edit_url(product), {**form_data, "name": "Renamed", "stock": "5", "stock_seen": "5"}
    )
    product.refresh_from_db()
    assert (product.name, product.stock) == ("Renamed", 2)

    seller_client.post(edit_url(product), {**form_data, "stock": "12", "stock_seen": "5"})
    product.refresh_from_db()
    assert product.stock == 9  # the seller added 7 units to what is really left


def test_seller_sees_their_product_in_the_edit_form(seller_client, make_product):
    product = make_product(name="Velvet blazer", price=Decimal("89.90"))

    response = seller_client.get(edit_url(product))

    assert response.status_code == 200
    assert 'value="Velvet blazer"' in response.text
    assert "89.90" in response.text


def test_seller_edits_their_own_product(seller_client, make_product, form_data, shoes):
    product = make_product(image=image_upload())
    image_name = product.image.name

    response = seller_client.post(
        edit_url(product),
        {
            **form_data,
            "name": "Trail runners",
            "price": "80.00",
            "stock": "0",
            "category": shoes.pk,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == SELLER_LIST
    product.refresh_from_db()
    assert (product.name, product.price, product.stock, product.category) == (
        "Trail runners",
        Decimal("80.00"),
        0,
        shoes,
    )
    assert product.image.name == image_name  # no new file chosen: the picture stays


def test_seller_replaces_and_clears_the_image(seller_client, make_product, form_data):
    product = make_product(image=image_upload())
    first = product.image.name

    seller_client.post(edit_url(product), {**form_data, "image": image_upload(fmt="GIF")})
    product.refresh_from_db()
    assert product.image.name != first
    assert STORED_IMAGE_NAME.match(product.image.name)

    seller_client.post(edit_url(product), {**form_data, "image-clear": "on"})
    product.refresh_from_db()
    assert not product.image


def test_seller_takes_a_product_off_sale_from_the_edit_form(seller_client, make_product, form_data):
    product = make_product()

    seller_client.post(edit_url(product), {**form_data, "is_active": ""})

    product.refresh_from_db()
    assert product.is_active is False


def test_invalid_edit_shows_errors_and_changes_nothing(seller_client, make_product, form_data):
    product = make_product(name="Velvet blazer", price=Decimal("89.90"), stock=4)

    response = seller_client.post(
        edit_url(product), {**form_data, "name": "Renamed", "price": "0", "stock": "-2"}
    )

    assert response.status_code == 200
    assert {"price", "stock"} <= set(response.context["form"].errors)
    assert 'value="Renamed"' in response.text
    product.refresh_from_db()
    assert (product.name, product.price, product.stock) == ("Velvet blazer", Decimal("89.90"), 4)


def test_seller_cannot_edit_another_sellers_product(client, other_seller, make_product, form_data):
    product = make_product(name="Velvet blazer", price=Decimal("89.90"))
    client.force_login(other_seller)

    assert client.get(edit_url(product)).status_code == 404
    response = client.post(edit_url(product), {**form_data, "name": "Stolen", "price": "1.00"})

    assert response.status_code == 404
    product.refresh_from_db()
    assert (product.name, product.price) == ("Velvet blazer", Decimal("89.90"))


# --- taking a product off sale ----------------------------------------------------------


def test_seller_takes_their_own_product_off_sale(seller_client, make_product):
    product = make_product()

    response = seller_client.post(deactivate_url(product))

    assert response.status_code == 302
    assert response["Location"] == SELLER_LIST
    product.refresh_from_db()
    assert product.is_active is False
    assert Product.objects.filter(pk=product.pk).exists()


def test_taking_off_sale_needs_a_post(seller_client, make_product):
    product = make_product()

    response = seller_client.get(deactivate_url(product))

    assert response.status_code == 405
    product.refresh_from_db()
    assert product.is_active is True


def test_seller_cannot_take_another_sellers_product_off_sale(client, other_seller, make_product):
    product = make_product()
    client.force_login(other_seller)

    response = client.post(deactivate_url(product))

    assert response.status_code == 404
    product.refresh_from_db()
    assert product.is_active is True
