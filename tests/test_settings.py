"""Settings come from the environment in one place: the embedded default needs nothing,
production refuses to start half-configured, and each service switch really switches."""

import json
import secrets

import pytest

from tests.helpers import child_env, manage, python

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    "STRIPE_SECRET_KEY": "sk_test_liveshop",
    "STRIPE_WEBHOOK_SECRET": "whsec_liveshop",
}

SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps({
    "debug": settings.DEBUG,
    "engine": settings.DATABASES["default"]["ENGINE"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "sessions": settings.SESSION_ENGINE,
    "channels": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "secret_key_length": len(settings.SECRET_KEY),
    "migration_modules": getattr(settings, "MIGRATION_MODULES", {}),
    "auto_field": settings.DEFAULT_AUTO_FIELD,
}))
"""


def show_settings(**env: str) -> dict:
    result = python(SHOW_SETTINGS, env=child_env(**env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_default_needs_no_environment():
    shown = show_settings()
    assert shown["debug"] is True
    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert shown["channels"] == "channels.layers.InMemoryChannelLayer"
    assert shown["secret_key_length"] >= 50


def test_redis_url_switches_cache_and_channel_layer_but_not_sessions():
    shown = show_settings(REDIS_URL="redis://127.0.0.1:6379/0")
    assert shown["cache"] == "liveshop.cache.ResilientRedisCache"
    assert shown["sessions"] == "django.contrib.sessions.backends.db"  # survive Redis going
    assert shown["channels"] == "channels_redis.core.RedisChannelLayer"


def test_database_url_selects_postgresql():
    shown = show_settings(DATABASE_URL="postgres://u:p@127.0.0.1:5432/liveshop")
    assert shown["engine"] == "django.db.backends.postgresql"


def test_mongodb_uri_selects_mongodb_with_its_own_migrations():
    shown = show_settings(MONGODB_URI="mongodb://127.0.0.1:27017/")
    assert shown["engine"] == "django_mongodb_backend"
    assert shown["auto_field"] == "django_mongodb_backend.fields.ObjectIdAutoField"
    assert shown["migration_modules"]["catalog"] == "mongo_migrations.catalog"


def test_setting_both_database_variables_is_refused():
    result = python(
        SHOW_SETTINGS,
        env=child_env(DATABASE_URL="postgres://x@127.0.0.1/x", MONGODB_URI="mongodb://x"),
    )
    assert result.returncode != 0
    assert "not both" in result.stderr


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_required_variable(missing):
    env = {key: value for key, value in PRODUCTION.items() if key != missing}
    result = manage("check", env=child_env(**env))
    assert result.returncode != 0
    assert f"{missing} is required" in result.stderr


def test_deploy_check_is_clean_with_the_documented_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=child_env(**PRODUCTION))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_mongodb_settings_pass_checks_and_migrations_are_in_step_with_models():
    env = child_env(MONGODB_URI="mongodb://127.0.0.1:27017/?serverSelectionTimeoutMS=100")
    check = manage("check", env=env)
    assert check.returncode == 0, check.stderr
    in_step = python(
        "import runpy, sys; sys.argv = ['x', '--check', '--dry-run'];"
        " runpy.run_path('scripts/mongo_makemigrations.py', run_name='__main__')",
        env=env,
    )
    assert in_step.returncode == 0, in_step.stdout + in_step.stderr
    assert "No changes detected" in in_step.stdout


def test_sql_migrations_are_in_step_with_models():
    result = manage("makemigrations", "--check", "--dry-run", env=child_env())
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.redis
def test_cache_sessions_and_channel_layer_work_over_a_real_redis(redis_url, tmp_path):
    code = """
import asyncio, django
django.setup()
from django.core.cache import cache
from django.contrib.sessions.backends.cache import SessionStore
from channels.layers import get_channel_layer
from django.core.management import call_command
call_command("migrate", verbosity=0)
cache.set("greeting", "hello", 30)
assert cache.get("greeting") == "hello"
from importlib import import_module
from django.conf import settings
store = import_module(settings.SESSION_ENGINE).SessionStore()
store["cart"] = [1, 2]
store.save()
assert import_module(settings.SESSION_ENGINE).SessionStore(store.session_key)["cart"] == [1, 2]
async def roundtrip():
    layer = get_channel_layer()
    name = await layer.new_channel()
    await layer.group_add("room-1", name)
    await layer.group_send("room-1", {"type": "chat.message", "text": "hi"})
    return await asyncio.wait_for(layer.receive(name), 5)
print(asyncio.run(roundtrip())["text"])
"""
    env = child_env(REDIS_URL=redis_url, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    result = python(code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hi"


def test_production_refuses_the_dummy_payment_backend():
    result = manage("check", env=child_env(**PRODUCTION, PAYMENTS_BACKEND="dummy"))
    assert result.returncode != 0
    assert "refuses DEBUG off" in result.stderr


def test_production_refuses_stripe_without_its_keys():
    env = {k: v for k, v in PRODUCTION.items() if k != "STRIPE_WEBHOOK_SECRET"}
    result = manage("check", env=child_env(**env))
    assert result.returncode != 0
    assert "STRIPE_WEBHOOK_SECRET" in result.stderr


def test_development_without_stripe_keys_uses_the_dummy_backend():
    shown = python(
        "import django; django.setup(); from django.conf import settings;"
        " print(settings.PAYMENTS_BACKEND)",
        env=child_env(),
    )
    assert shown.stdout.strip() == "dummy"


def test_production_static_files_collect_with_hashed_module_imports(tmp_path):
    """What the Dockerfile runs at build time."""
    result = manage(
        "collectstatic", "--noinput", env=child_env(**PRODUCTION, DJANGO_STATIC_ROOT=str(tmp_path))
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    room_js = (tmp_path / manifest["js/room.js"]).read_text()
    hashed_cart = manifest["js/cart.js"].rsplit("/", 1)[-1]
    assert f"./{hashed_cart}" in room_js  # the import points at the hashed file
    assert (tmp_path / (manifest["css/site.css"] + ".gz")).exists()
