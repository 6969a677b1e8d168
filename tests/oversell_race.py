"""Many buyers check out the same scarce product at the same instant, in threads with their
own database connections (real commits, real locks), against whichever database the
environment names (SQLite file, PostgreSQL, MongoDB). Prints what happened as JSON.

    DATABASE_URL=... python tests/oversell_race.py

Scenarios (all in one run, on one migrated database):
- one_line: RACE_BUYERS buyers (40) want 1 each of a product with RACE_STOCK units (5);
- two_lines: the same, each cart holding a plentiful product first and the scarce one
  second: a refused checkout must leave nothing of the first line reserved;
- crossed: half the carts hold A then B, half B then A, both plentiful: every checkout
  succeeds (reserving in cart order would let two checkouts wait on each other's rows).
"""

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")

import django

django.setup()

from decimal import Decimal  # noqa: E402

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402

# Password hashing is not under test and PBKDF2 would make 120 buyers take a minute.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

from accounts import services as accounts  # noqa: E402
from catalog import services as catalog  # noqa: E402
from catalog.models import Product  # noqa: E402
from orders import services  # noqa: E402
from orders.exceptions import OutOfStock  # noqa: E402
from orders.models import CartItem, Order, OrderItem  # noqa: E402

BUYERS = int(os.environ.get("RACE_BUYERS", "40"))
STOCK = int(os.environ.get("RACE_STOCK", "5"))


def person(username: str, *, seller: bool = False):
    user = accounts.user_register(
        username=username, email=f"{username}@example.test", password="x-Secret-99"
    )
    if seller:
        accounts.user_become_seller(user=user, shop_name=f"{username}'s shop")
    return user


SELLER = person("race_seller", seller=True)
CATEGORY = catalog.category_create(name="Limited drops")


def product(name: str, stock: int) -> Product:
    return catalog.product_create(
        seller=SELLER, name=name, price=Decimal("25.00"), stock=stock, category=CATEGORY
    )


def buyers_with_carts(prefix: str, carts: list[list[Product]]) -> list:
    buyers = []
    for index, lines in enumerate(carts):
        buyer = person(f"{prefix}{index}")
        cart = services.cart_for_user(user=buyer)
        for line in lines:
            services.cart_add(cart=cart, product=line, quantity=1)
        buyers.append(buyer)
    return buyers


def race(buyers: list, watched: list[Product]) -> dict:
    """All buyers check out at once; a watcher samples the stock while they do."""
    start = threading.Barrier(len(buyers) + 1)
    results: list[dict | None] = [None] * len(buyers)
    done = threading.Event()
    lowest = {p.name: p.stock for p in watched}

    def checkout(index: int, buyer) -> None:
        try:
            start.wait(timeout=30)
            order = services.checkout_create_order(user=buyer)
            results[index] = {"outcome": "order", "order": order.pk}
        except OutOfStock as exc:
            results[index] = {"outcome": "out_of_stock", "message": exc.message}
        except Exception as exc:  # anything else is a failure the test reports
            results[index] = {
                "outcome": "error",
                "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc()[-2000:],
            }
        finally:
            connection.close()  # each thread has its own connection

    def watch() -> None:
        try:
            start.wait(timeout=30)
            while not done.is_set():
                for name, stock in Product.objects.filter(
                    pk__in=[p.pk for p in watched]
                ).values_list("name", "stock"):
                    lowest[name] = min(lowest[name], stock)
                time.sleep(0.001)
        finally:
            connection.close()

    threads = [threading.Thread(target=checkout, args=(i, b)) for i, b in enumerate(buyers)]
    watcher = threading.Thread(target=watch)
    for thread in [*threads, watcher]:
        thread.start()
    started = time.monotonic()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    watcher.join(timeout=30)

    orders = Order.objects.filter(buyer__in=buyers)
    return {
        "seconds": round(time.monotonic() - started, 2),
        "results": results,
        "orders": orders.count(),
        "orders_per_buyer_max": max((orders.filter(buyer=b).count() for b in buyers), default=0),
        "stock": {p.name: Product.objects.get(pk=p.pk).stock for p in watched},
        "lowest_stock_seen": lowest,
        "reserved": {
            p.name: OrderItem.objects.filter(product=p, order__in=orders).aggregate(
                n=Sum("quantity")
            )["n"]
            or 0
            for p in watched
        },
        # Refused buyers keep their carts (nothing was taken from them).
        "cart_lines_left": CartItem.objects.filter(cart__user__in=buyers).count(),
        "items_per_order": sorted({o.items.count() for o in orders}),
    }


report = {}

scarce = product("Limited sneaker", STOCK)
report["one_line"] = race(buyers_with_carts("one", [[scarce]] * BUYERS), [scarce])

plenty, last = product("Plain tee", 100), product("Last vinyl", STOCK)
report["two_lines"] = race(buyers_with_carts("two", [[plenty, last]] * BUYERS), [plenty, last])

a, b = product("Cap A", 100), product("Cap B", 100)
crossed_carts = [[a, b] if i % 2 else [b, a] for i in range(BUYERS)]
report["crossed"] = race(buyers_with_carts("cross", crossed_carts), [a, b])

print(json.dumps(report))
