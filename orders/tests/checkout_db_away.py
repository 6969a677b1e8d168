"""A buyer checks out through the API (real JWT, real database) while the database is away,
then again once it is back. Run in its own process by test_checkout_rush.py, against the
database the environment names; prints what happened as JSON.

    DATABASE_URL=sqlite:///... python orders/tests/checkout_db_away.py
    DATABASE_URL=postgres://.../name AWAY_ADMIN_URL=postgres://.../postgres python ...

"Away" is what a flash sale or an incident does to it:
- SQLite: another writer holds the file's write lock (BEGIN IMMEDIATE) for longer than the
  checkout's lock wait. That wait is 20 s in the settings; shortened here to keep the test
  quick, the behaviour is the same.
- PostgreSQL: the server refuses new connections to the database (ALLOW_CONNECTIONS false)
  and the ones open are cut (pg_terminate_backend), as when it runs out of connections or
  restarts: the process's connection pool cannot hand out a connection.
"""

import json
import os
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402

SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
# Shorter waits than the settings' (20 s for SQLite's lock, 5 s for a pooled connection), set
# before the first query opens a connection (the settings are read then).
if SQLITE:
    settings.DATABASES["default"]["OPTIONS"]["timeout"] = 0.5
else:
    settings.DATABASES["default"]["OPTIONS"]["pool"]["timeout"] = 2
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # not under test

from django.db import OperationalError, close_old_connections  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from catalog.models import Product  # noqa: E402
from orders.models import CartItem, Order  # noqa: E402
from orders.tests.checkout_script_data import buyer_with_a_sneaker_in_the_cart  # noqa: E402

CHECKOUT = "/api/v1/checkout/"


def checkout() -> dict:
    # Around each request, what the server does and the test client leaves out: a connection
    # that broke or is done with goes back (PostgreSQL: to the pool, which drops a dead one).
    close_old_connections()
    response = client.post(CHECKOUT)
    close_old_connections()
    return {
        "status": response.status_code,
        "retry_after": response.headers.get("Retry-After"),
        "body": response.json(),
    }


def state(product: Product, buyer) -> dict:
    deadline = time.monotonic() + 60
    while True:  # PostgreSQL: the pool may take a few seconds to connect again
        try:
            return {
                "stock": Product.objects.get(pk=product.pk).stock,
                "cart_lines": CartItem.objects.filter(cart__user=buyer).count(),
                "orders": Order.objects.filter(buyer=buyer).count(),
            }
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class SqliteLocked:
    def __init__(self):
        self.other = sqlite3.connect(settings.DATABASES["default"]["NAME"], timeout=10)

    def __enter__(self):
        self.other.execute("BEGIN IMMEDIATE")  # the write lock, held by another writer

    def __exit__(self, *exc):
        self.other.rollback()


class PostgresRefusing:
    def __init__(self):
        import psycopg

        self.admin = psycopg.connect(os.environ["AWAY_ADMIN_URL"], autocommit=True)
        self.name = settings.DATABASES["default"]["NAME"]

    def __enter__(self):
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [self.name],
        )

    def __exit__(self, *exc):
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


buyer, sneaker, access = buyer_with_a_sneaker_in_the_cart("away", stock=3, category="Limited drops")
client = APIClient()
client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")

report = {"before": state(sneaker, buyer)}
with SqliteLocked() if SQLITE else PostgresRefusing():
    report["refused"] = checkout()
report["after_refusal"] = state(sneaker, buyer)
# Back: the next try goes through (PostgreSQL: once the pool has connected again).
deadline = time.monotonic() + 60
while True:
    retried = checkout()
    if retried["status"] != 503 or time.monotonic() > deadline:
        break
    time.sleep(0.5)
report["retried"] = retried
report["after_retry"] = state(sneaker, buyer)
print(json.dumps(report))
