"""Checkout in a rush (issue 8's flash sale; issue 9: no 5xx). A buyer who comes after the
last unit is refused `409 out_of_stock` by a read, without the write path; when every
checkout slot of the server stays taken, or the database is away (a lock held too long,
connections refused), the answer is `503 temporarily_unavailable` with `Retry-After` in the
API's error shape, nothing changes, and a retry afterwards goes through.

That the race sells exactly the units is orders/tests/test_oversell.py and
tests/test_oversell_postgres.py; how fast, bench/checkout_race.py."""

import contextlib
import json
import threading
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product
from catalog.tests.helpers import assert_error_shape
from orders import services
from orders.models import CartItem, Order
from tests.helpers import child_env, manage, run_script, site_env

CHECKOUT = "/api/v1/checkout/"


@pytest.fixture(autouse=True)
def _dummy_payments(settings):
    settings.PAYMENTS_BACKEND = "dummy"


@pytest.fixture
def sneaker(make_product):
    return make_product(name="Limited sneaker", stock=1)


def in_cart(user, product: Product) -> None:
    services.cart_add(cart=services.cart_for_user(user=user), product=product, quantity=1)


def test_a_buyer_after_the_last_unit_is_refused_409_without_any_write(
    auth_api, buyer, make_user, sneaker
):
    fiona = make_user("fast_fiona")
    in_cart(fiona, sneaker)
    in_cart(buyer, sneaker)
    assert auth_api(fiona).post(CHECKOUT).status_code == 201  # the last unit goes

    with CaptureQueriesContext(connection) as queries:
        response = auth_api(buyer).post(CHECKOUT)

    assert response.status_code == 409
    error = assert_error_shape(response.json(), code="out_of_stock")
    assert error["message"] == "“Limited sneaker” ran out: only 0 left."
    assert error["fields"] == {"product_id": [str(sneaker.pk)]}
    # Refused from what it read: no transaction, no claim of the cart, no stock update.
    statements = [query["sql"].split()[0].upper() for query in queries]
    assert set(statements) == {"SELECT"}, statements
    assert Product.objects.get(pk=sneaker.pk).stock == 0
    assert CartItem.objects.filter(cart__user=buyer).count() == 1  # kept, to be changed
    assert not Order.objects.filter(buyer=buyer).exists()


@contextlib.contextmanager
def every_checkout_slot_taken() -> Iterator[None]:
    """Other checkouts hold every slot of this process until the block ends."""
    taken, release = threading.Semaphore(0), threading.Event()

    def hold() -> None:
        with services.checkout_slot():
            taken.release()
            release.wait(timeout=30)

    holders = [threading.Thread(target=hold) for _ in range(settings.CHECKOUT_CONCURRENCY)]
    for holder in holders:
        holder.start()
    try:
        for _ in holders:
            assert taken.acquire(timeout=10)
        yield
    finally:
        release.set()
        for holder in holders:
            holder.join(timeout=10)


def test_a_checkout_that_waits_too_long_for_its_turn_answers_503_and_changes_nothing(
    auth_api, buyer, sneaker, settings
):
    settings.CHECKOUT_QUEUE_SECONDS = 0.2
    in_cart(buyer, sneaker)
    client = auth_api(buyer)

    with every_checkout_slot_taken():
        response = client.post(CHECKOUT)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    error = assert_error_shape(response.json(), code="temporarily_unavailable")
    assert "nothing was ordered or reserved" in error["message"]
    assert Product.objects.get(pk=sneaker.pk).stock == 1
    assert CartItem.objects.filter(cart__user=buyer).count() == 1
    assert not Order.objects.filter(buyer=buyer).exists()
    # Once a slot is free, the same request goes through.
    assert client.post(CHECKOUT).status_code == 201


def test_the_checkout_page_in_a_full_queue_says_so_and_keeps_the_cart(
    client, buyer, sneaker, settings
):
    settings.CHECKOUT_QUEUE_SECONDS = 0.2
    in_cart(buyer, sneaker)
    client.force_login(buyer)

    with every_checkout_slot_taken():
        response = client.post("/checkout/", follow=True)

    assert response.redirect_chain[-1][0] == "/cart/"
    assert "So many people are checking out right now" in response.content.decode()
    assert CartItem.objects.filter(cart__user=buyer).count() == 1
    assert Product.objects.get(pk=sneaker.pk).stock == 1


def run_db_away(env: dict[str, str]) -> dict:
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    result = run_script("orders/tests/checkout_db_away.py", env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_db_away(report: dict) -> None:
    refused = report["refused"]
    assert refused["status"] == 503, refused
    assert refused["retry_after"] == "2"
    error = assert_error_shape(refused["body"], code="temporarily_unavailable")
    assert "nothing was ordered or reserved" in error["message"]
    # Nothing changed: the unit is still on sale, the cart kept, no order.
    assert report["after_refusal"] == report["before"] == {"stock": 3, "cart_lines": 1, "orders": 0}
    # The database back, the same buyer's retry goes through.
    assert report["retried"]["status"] == 201, report["retried"]
    assert report["after_retry"] == {"stock": 2, "cart_lines": 0, "orders": 1}


def test_a_locked_sqlite_database_answers_503_and_the_retry_goes_through(tmp_path):
    check_db_away(run_db_away(site_env(tmp_path, PAYMENTS_BACKEND="dummy")))


@pytest.mark.postgres
def test_a_postgresql_refusing_connections_answers_503_and_the_retry_goes_through(
    postgres_url, postgres_server_url, tmp_path
):
    env = child_env(
        DATABASE_URL=postgres_url,
        DJANGO_MEDIA_ROOT=str(tmp_path / "media"),
        PAYMENTS_BACKEND="dummy",
        AWAY_ADMIN_URL=postgres_server_url,
    )
    check_db_away(run_db_away(env))
