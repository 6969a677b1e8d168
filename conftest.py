"""Fixtures shared by every test: real services on loopback, uploaded files in a temp folder,
and small factories.

Tests that need a service (Redis, PostgreSQL) use its fixture. Outside CI a missing service
skips the test with a reason that says what to install; with CI=true it fails instead, so a
green CI run always means the test really ran."""

import contextlib
import io
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PROJECT_ROOT = Path(__file__).resolve().parent


def require_service(what: str, how_to_get_it: str) -> None:
    """Skip (or, in CI, fail) a test whose service is missing."""
    message = f"{what} is not available: {how_to_get_it}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def private_redis_server() -> Iterator[tuple[str, subprocess.Popen]]:
    """A redis-server of our own on a free loopback port, keeping nothing on disk; yields
    its URL and process. Tests and the benchmarks use it."""
    binary = shutil.which("redis-server")
    if binary is None:
        require_service("redis-server", "install it with `apt-get install redis-server`")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: $REDIS_URL when set, else a private redis-server on a free port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with private_redis_server() as (url, _process):
        yield url


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """A reachable PostgreSQL server (maintenance database), from $TEST_POSTGRES_URL."""
    url = os.environ.get(
        "TEST_POSTGRES_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"
    )
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            pass
    except Exception as exc:  # any failure to connect means "no server here"
        require_service(
            f"PostgreSQL at {url} ({exc.__class__.__name__})",
            "install and start it (`apt-get install postgresql`) or set TEST_POSTGRES_URL",
        )
    return url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"liveshop_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _isolated_state(settings, tmp_path):
    """Each test starts with an empty cache (login counters) and its own upload folder.
    PBKDF2 costs ~0.4 s per hash and tests make users by the dozen: a fast hasher changes
    no behaviour under test, only the wait."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Background jobs run after commit on the test's own thread, inside its database
    # transaction (tests/test_background.py runs the real worker thread).
    settings.BACKGROUND_INLINE = True
    cache.clear()
    yield
    cache.clear()


# --- factories ---------------------------------------------------------------------------


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), colour=(200, 40, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


def image_upload(name: str = "photo.png", fmt: str = "PNG", **kwargs) -> SimpleUploadedFile:
    content_type = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}.get(fmt)
    return SimpleUploadedFile(name, image_bytes(fmt, **kwargs), content_type=content_type)


@pytest.fixture
def make_user(db):
    from accounts import services

    def make(username: str | None = None, *, seller: bool = False, **profile):
        username = username or f"user{uuid.uuid4().hex[:8]}"
        user = services.user_register(
            username=username, email=f"{username}@example.test", password="correct-horse-42"
        )
        if seller:
            services.user_become_seller(user=user, shop_name=f"{username}'s shop")
        return user

    return make


@pytest.fixture
def buyer(make_user):
    return make_user("bella_buyer")


@pytest.fixture
def seller(make_user):
    return make_user("sam_seller", seller=True)


@pytest.fixture
def other_seller(make_user):
    return make_user("olga_seller", seller=True)


@pytest.fixture
def category(db):
    from catalog import services

    return services.category_create(name="Fashion")


@pytest.fixture
def make_product(db, seller, category):
    from catalog import services

    def make(**fields):
        values = {
            "seller": seller,
            "name": "Denim jacket",
            "price": Decimal("59.00"),
            "stock": 5,
            "category": category,
        }
        values.update(fields)
        return services.product_create(**values)

    return make


PASSWORD = "correct-horse-42"


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def auth_api(db):
    """An API client authenticated with a real JWT access token for the given user."""
    from rest_framework.test import APIClient

    from accounts.tokens import RevocableRefreshToken

    def client_for(user) -> APIClient:
        client = APIClient()
        token = RevocableRefreshToken.for_user(user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return client_for
