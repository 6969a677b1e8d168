"""Every write to the catalog goes through here (pages, API, admin actions, commands)."""

import secrets
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import User
from catalog.models import Category, Currency, Product
from liveshop.errors import NotFoundError, PermissionDeniedError
from liveshop.images import normalize_image

EDITABLE_FIELDS = frozenset(
    {"name", "description", "price", "currency", "stock", "category", "image", "is_active"}
)


def _unique_slug(name: str) -> str:
    # A random suffix keeps slugs unique without a read-then-write race between sellers.
    base = slugify(name[:300])[:200] or "product"
    return f"{base}-{secrets.token_hex(3)}"


def _save_checked(product: Product) -> Product:
    product.full_clean(exclude=["image"])
    product.save()
    return product


def category_create(*, name: str, slug: str | None = None) -> Category:
    category = Category(name=name.strip(), slug=slug or slugify(name))
    category.full_clean()
    category.save()
    return category


def product_create(
    *,
    seller: User,
    name: str,
    price: Decimal,
    category: Category,
    description: str = "",
    currency: str = Currency.USD,
    stock: int = 0,
    image: UploadedFile | None = None,
    is_active: bool = True,
) -> Product:
    if not seller.is_seller:
        raise PermissionDeniedError(_("Only sellers can add products. Become a seller first."))
    product = Product(
        seller=seller,
        name=name.strip(),
        slug=_unique_slug(name),
        description=description.strip(),
        price=price,
        currency=currency,
        stock=stock,
        category=category,
        is_active=is_active,
    )
    if image:
        product.image = normalize_image(image)
    return _save_checked(product)


def product_update(
    *, product: Product, actor: User, stock_seen: int | None = None, **changes
) -> Product:
    """Change a product's editable fields; only its own seller may (others get 404).

    Stock moves under the seller's feet while buyers check out, so the row is never saved
    whole: only the changed columns are written, and stock is written as
    - a difference from `stock_seen` (what the seller's form showed), applied atomically,
      so units sold meanwhile stay sold; or
    - an absolute count when no `stock_seen` is given (an API client setting it on purpose).
    """
    if product.seller_id != actor.pk:
        raise NotFoundError(_("No such product."))
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in unknown})
    new_stock = changes.pop("stock", None)
    changed: list[str] = []
    for field, value in changes.items():
        if field == "image":
            if value:
                product.image = normalize_image(value)
            elif value is False:  # a cleared file input
                product.image = ""
            changed.append("image")
            continue
        if isinstance(value, str):
            value = value.strip()
        setattr(product, field, value)
        changed.append(field)
    if new_stock is not None and (not isinstance(new_stock, int) or new_stock < 0):
        raise ValidationError({"stock": [_("Stock is a whole number, 0 or more.")]})
    product.full_clean(exclude=["image", "stock"])
    with transaction.atomic():
        if changed:
            product.save(update_fields=[*changed, "updated_at"])
        if new_stock is not None:
            # The seller's form sends the stock with every save: only a real change is news.
            if _stock_set(product=product, new_stock=new_stock, stock_seen=stock_seen):
                _stock_told_to_rooms(product)
        if "is_active" in changed and not product.is_active:
            _withdraw_from_rooms(product, actor)
    product.refresh_from_db(fields=["stock"])
    return product


def _stock_set(*, product: Product, new_stock: int, stock_seen: int | None) -> bool:
    """Answers whether the count changed."""
    products = Product.objects.filter(pk=product.pk)
    if stock_seen is None:
        return bool(products.exclude(stock=new_stock).update(stock=new_stock))
    difference = new_stock - stock_seen
    if difference and not products.filter(stock__gte=-difference).update(
        stock=F("stock") + difference
    ):
        raise ValidationError(
            {"stock": [_("Buyers took units meanwhile: there are fewer left than you remove.")]}
        )
    return bool(difference)


def product_deactivate(*, product: Product, actor: User) -> Product:
    """Take a product off sale. Products are never deleted: orders refer to them."""
    return product_update(product=product, actor=actor, is_active=False)


def _withdraw_from_rooms(product: Product, actor: User) -> None:
    from rooms.services import rooms_product_withdrawn  # rooms build on the catalog

    rooms_product_withdrawn(product=product, actor=actor)


def _stock_told_to_rooms(product: Product) -> None:
    from rooms.services import rooms_product_stock_changed  # rooms build on the catalog

    rooms_product_stock_changed(product_ids=[product.pk])
