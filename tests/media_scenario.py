"""Builds the rooms the live-video tests use, then prints their ids and access tokens as JSON.
Run in the server's environment:

    python tests/media_scenario.py

Each test gets a room of its own (a room has one forwarding unit, so tests stay apart):
live rooms "stream", "drop", "redis" and "term", scheduled rooms "early" and "demo" (a publish
offer makes them live), and an ended room "over".
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")

import django

django.setup()

from django.utils import timezone  # noqa: E402

from accounts import services as accounts  # noqa: E402
from accounts.tokens import RevocableRefreshToken  # noqa: E402
from rooms import services as rooms  # noqa: E402

PASSWORD = "x-Secret-99"


def person(username: str):
    return accounts.user_register(
        username=username, email=f"{username}@example.test", password=PASSWORD
    )


def access(user) -> str:
    return str(RevocableRefreshToken.for_user(user).access_token)


seller = person("sally")
accounts.user_become_seller(user=seller, shop_name="Sally's Hats")
buyers = {name: person(name) for name in ("bob", "carol")}

ids = {}
for name, state in [
    ("stream", "live"),
    ("drop", "live"),
    ("redis", "live"),
    ("term", "live"),
    ("early", "scheduled"),
    ("demo", "scheduled"),
    ("over", "ended"),
]:
    room = rooms.room_create(
        seller=seller, title=f"Hat show ({name})", scheduled_start=timezone.now(), products=[]
    )
    if state in {"live", "ended"}:
        room = rooms.room_go_live(room=room, actor=seller)
    if state == "ended":
        room = rooms.room_end(room=room, actor=seller)
    ids[name] = room.pk

print(
    json.dumps(
        {
            "rooms": ids,
            "seller": access(seller),
            **{name: access(user) for name, user in buyers.items()},
        }
    )
)
