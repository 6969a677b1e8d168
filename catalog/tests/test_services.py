"""catalog.services: the only way products are written, whoever asks (pages, API, admin)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from catalog import selectors, services
from catalog.models import Product
from liveshop.errors import NotFoundError, PermissionDeniedError


def test_buyer_cannot_create_a_product(buyer, category):
    with pytest.raises(PermissionDeniedError):
        services.product_create(
            seller=buyer, name="Scarf", price=Decimal("10.00"), category=category
        )

    assert not Product.objects.exists()


def test_seller_creates_a_product_with_tidy_text(seller, category):
    product = services.product_create(
        seller=seller,
        name="  Denim jacket  ",
        description="\n Classic cut. \n",
        price=Decimal("59.00"),
        stock=3,
        category=category,
    )

    product.refresh_from_db()
    assert product.name == "Denim jacket"
    assert product.description == "Classic cut."
    assert product.slug.startswith("denim-jacket-")
    assert product.currency == "USD"
    assert product.is_active is True


def test_two_products_with_the_same_name_get_different_slugs(make_product):
    first = make_product(name="Denim jacket")
    second = make_product(name="Denim jacket")

    assert first.slug != second.slug
    assert first.slug.startswith("denim-jacket-")
    assert second.slug.startswith("denim-jacket-")


def test_name_without_latin_letters_still_gets_a_slug(make_product):
    product = make_product(name="夹克 ★")

    assert product.slug.startswith("product-")
    assert product.get_absolute_url().endswith(f"/{product.slug}/")


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"price": Decimal("0")}, "price"),
        ({"price": Decimal("-5")}, "price"),
        ({"price": Decimal("1.999")}, "price"),
        ({"price": Decimal("1000000000000")}, "price"),
        ({"stock": -1}, "stock"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"currency": "XYZ"}, "currency"),
        ({"description": "d" * 5001}, "description"),
    ],
)
def test_service_refuses_invalid_products_even_without_a_form(make_product, fields, field):
    with pytest.raises(ValidationError) as refused:
        make_product(**fields)

    assert field in refused.value.message_dict
    assert not Product.objects.exists()


def test_another_seller_cannot_update_a_product(make_product, other_seller):
    product = make_product(price=Decimal("59.00"))

    with pytest.raises(NotFoundError):
        services.product_update(product=product, actor=other_seller, price=Decimal("1.00"))

    product.refresh_from_db()
    assert product.price == Decimal("59.00")


def test_another_seller_cannot_deactivate_a_product(make_product, other_seller):
    product = make_product()

    with pytest.raises(NotFoundError):
        services.product_deactivate(product=product, actor=other_seller)

    product.refresh_from_db()
    assert product.is_active is True


def test_seller_updates_their_own_product(make_product, seller):
    product = make_product(price=Decimal("59.00"), stock=5)

    services.product_update(product=product, actor=seller, price=Decimal("49.99"), stock=0)

    product.refresh_from_db()
    assert (product.price, product.stock, product.in_stock) == (Decimal("49.99"), 0, False)


def test_update_cannot_change_owner_or_slug(make_product, seller, other_seller):
    product = make_product()

    with pytest.raises(ValidationError) as refused:
        services.product_update(product=product, actor=seller, seller=other_seller, slug="x")

    assert set(refused.value.message_dict) == {"seller", "slug"}
    product.refresh_from_db()
    assert product.seller == seller


def test_invalid_update_leaves_the_stored_product_unchanged(make_product, seller):
    product = make_product(price=Decimal("59.00"))

    with pytest.raises(ValidationError):
        services.product_update(product=product, actor=seller, price=Decimal("0"))

    product.refresh_from_db()
    assert product.price == Decimal("59.00")


def test_deactivated_product_is_kept_but_off_sale(make_product, seller):
    product = make_product()

    services.product_deactivate(product=product, actor=seller)

    assert Product.objects.filter(pk=product.pk, is_active=False).exists()
    assert product not in selectors.products_on_sale()
    assert product in selectors.products_of_seller(seller=seller)


def test_featured_products_are_on_sale_and_in_stock(make_product):
    shown = make_product(name="Shown", stock=1)
    make_product(name="Sold out", stock=0)
    make_product(name="Off sale", is_active=False)

    assert list(selectors.featured_products()) == [shown]


def test_category_slug_is_made_from_its_name(db):
    category = services.category_create(name="  Home & Garden ")

    assert (category.name, category.slug) == ("Home & Garden", "home-garden")


def test_duplicate_category_is_refused(category):
    with pytest.raises(ValidationError):
        services.category_create(name="Fashion")


def test_renaming_or_taking_off_sale_never_writes_back_a_stale_stock(seller, make_product):

    product = make_product(stock=5)
    Product.objects.filter(pk=product.pk).update(stock=2)  # checkouts reserved 3 meanwhile

    services.product_update(product=product, actor=seller, name="Renamed")
    services.product_deactivate(product=product, actor=seller)

    product.refresh_from_db()
    assert (product.name, product.is_active, product.stock) == ("Renamed", False, 2)
