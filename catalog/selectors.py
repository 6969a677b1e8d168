"""Named reads of the catalog."""

from django.db.models import QuerySet

from accounts.models import User
from catalog.models import Product


def products_on_sale() -> QuerySet[Product]:
    """What shoppers may see: active products of active sellers, with what lists show."""
    return Product.objects.filter(is_active=True, seller__is_active=True).select_related(
        "seller", "category"
    )


def products_of_seller(*, seller: User) -> QuerySet[Product]:
    """Everything a seller owns, on sale or not."""
    return Product.objects.filter(seller=seller).select_related("seller", "category")


def featured_products(*, limit: int = 8) -> QuerySet[Product]:
    return products_on_sale().filter(stock__gt=0).order_by("-created_at")[:limit]
