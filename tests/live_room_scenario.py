"""Builds a live room for tests that drive real server processes, then prints its ids and
access tokens as JSON. Run in the server's environment:

    python tests/live_room_scenario.py
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
from catalog import services as catalog  # noqa: E402
from rooms import services as rooms  # noqa: E402

PASSWORD = "x-Secret-99"


def person(username: str):
    return accounts.user_register(
        username=username, email=f"{username}@example.test", password=PASSWORD
    )


seller = person("sally")
accounts.user_become_seller(user=seller, shop_name="Sally's Hats")
buyer = person("bob")
category = catalog.category_create(name="Hats")
hat = catalog.product_create(
    seller=seller, name="Straw hat", price="19.00", stock=4, category=category
)
room = rooms.room_create(
    seller=seller, title="Hat show", scheduled_start=timezone.now(), products=[hat]
)
rooms.room_go_live(room=room, actor=seller)
rooms.room_spotlight(room=room, actor=seller, product_id=hat.pk)


def access(user) -> str:
    return str(RevocableRefreshToken.for_user(user).access_token)


print(
    json.dumps(
        {
            "room": room.pk,
            "hat": hat.pk,
            "password": PASSWORD,
            "seller": access(seller),
            "buyer": access(buyer),
        }
    )
)
