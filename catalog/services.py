"""Every write to the catalog goes through here (pages, API, admin actions, commands)."""

import secrets
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.text import slugify

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
        raise PermissionDeniedError("Only sellers can add products. Become a seller first.")
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


def product_update(*, product: Product, actor: User, **changes) -> Product:
    """Change a product's editable fields; only its own seller may (others get 404)."""
    if product.seller_id != actor.pk:
        raise NotFoundError("No such product.")
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    for field, value in changes.items():
        if field == "image":
            if value:
                product.image = normalize_image(value)
            elif value is False:  # a cleared file input
                product.image = ""
            continue
        if isinstance(value, str):
            value = value.strip()
        setattr(product, field, value)
    return _save_checked(product)


def product_deactivate(*, product: Product, actor: User) -> Product:
    """Take a product off sale. Products are never deleted: orders refer to them."""
    return product_update(product=product, actor=actor, is_active=False)
