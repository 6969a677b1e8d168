"""The data the checkout scripts that run in a process of their own start from
(checkout_db_away.py, checkout_retry_race.py). Import it after django.setup()."""

from accounts import services as accounts
from accounts.tokens import RevocableRefreshToken
from catalog import services as catalog
from orders import services


def person(username: str):
    return accounts.user_register(
        username=username, email=f"{username}@example.test", password="x-Secret-99"
    )


def buyer_with_a_sneaker_in_the_cart(name: str, *, stock: int, category: str):
    """A seller `<name>_seller` ("<Name> shop") selling a "Limited sneaker" at 25.00 with
    `stock` units in `category`, and a buyer `<name>_buyer` with one of them in the cart.
    Returns (buyer, sneaker, the buyer's access JWT)."""
    seller = person(f"{name}_seller")
    accounts.user_become_seller(user=seller, shop_name=f"{name.capitalize()} shop")
    sneaker = catalog.product_create(
        seller=seller,
        name="Limited sneaker",
        price="25.00",
        stock=stock,
        category=catalog.category_create(name=category),
    )
    buyer = person(f"{name}_buyer")
    services.cart_add(cart=services.cart_for_user(user=buyer), product=sneaker, quantity=1)
    return buyer, sneaker, str(RevocableRefreshToken.for_user(buyer).access_token)
