"""The IDOR matrix (issue 9): user A against user B's objects, on every route that names one.

`test_every_object_route_is_in_the_matrix` walks the URLconf: a route whose URL carries an
object id (any path keyword: pk, username, object_id...) and that is in neither MATRIX,
ADMIN_ROUTES nor NOT_OBJECT_ROUTES fails it, so a new object route forces a decision here.

Each MATRIX entry says, for B's object, what A may not do and what A gets:
  404      another user's object answers like a missing one (the project's rule);
  403      only where the project documents it: a buyer on a seller-only API (IsSeller),
           a buyer on the spotlight (rooms/apis.py: "anyone else ... gets 403");
  TO_SHOP  a buyer on a seller page: redirected to "open your shop" (accounts/decorators.py);
  200/201/204/302  public: anyone may read it (a room, a product on sale, a seller's
           profile), or the action only touches A's own state (A follows B, A sets a
           reminder on B's room); B's objects must still not change.
After every request, B's objects (everything B owns, read from the database) are compared
with a snapshot taken before: nothing of B's may change, whatever the answer.

The list tests check that B's objects never appear in A's lists, API and pages.
Sockets (/ws/...) are ASGI routes outside the URLconf and are not covered here.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.models import Follow, User
from catalog.models import Category, Product
from notifications.models import Notification, RoomReminder
from orders.models import Cart, CartItem, Order, OrderEvent, OrderItem, PaymentEvent
from rooms.models import ChatMessage, ShoppingRoom
from rooms.tests.conftest import _empty_room_store  # noqa: F401  (autouse: empty room store)

TO_SHOP = "to-shop"  # 302 to accounts:become-seller


@pytest.fixture(autouse=True)
def _dummy_payments(settings):
    settings.PAYMENTS_BACKEND = "dummy"


# --- the two users' worlds ----------------------------------------------------------------


@dataclass
class World:
    buyer_a: User
    seller_a: User
    buyer_b: User
    seller_b: User
    objects: dict = field(default_factory=dict)  # B's objects, by the matrix's names
    own: dict = field(default_factory=dict)  # A's own objects (the lists must show them)


@pytest.fixture
def world(make_user, make_product, category) -> World:
    """B: a seller with a product on sale, one off sale and a scheduled room; a buyer with a
    cart line, a pending order of B's product, a reminder, a follow and a notification.
    A: a buyer and a seller with the same things of their own, under other names."""
    from accounts import services as account_services
    from catalog import services as catalog_services
    from notifications import services as notification_services
    from orders import services as order_services
    from rooms import services as room_services

    def side(tag: str) -> tuple[User, User, dict]:
        buyer = make_user(f"{tag}_buyer")
        seller = make_user(f"{tag}_seller", seller=True)
        product = make_product(seller=seller, name=f"{tag}-product", price=Decimal("9.00"))
        off = make_product(seller=seller, name=f"{tag}-offsale", price=Decimal("9.00"))
        catalog_services.product_deactivate(product=off, actor=seller)
        room = room_services.room_create(
            seller=seller,
            title=f"{tag}-show",
            scheduled_start=timezone.now() + timedelta(days=1),
            products=[product],
        )
        ChatMessage.objects.create(
            room=room, user=buyer, text=f"{tag}-chat", sent_at=timezone.now(), message_id=tag
        )
        ordered = make_product(seller=seller, name=f"{tag}-ordered", price=Decimal("5.00"))
        cart = order_services.cart_for_user(user=buyer)
        order_services.cart_add(cart=cart, product=ordered, quantity=1)
        order = order_services.checkout_create_order(user=buyer)
        order_services.cart_add(cart=cart, product=product, quantity=2)  # after checkout
        cart_item = cart.items.get()
        account_services.seller_follow(follower=buyer, seller=seller)
        notification_services.room_reminder_set(user=buyer, room=room)
        notification = Notification.objects.create(
            user=buyer,
            kind=Notification.Kind.ROOM_LIVE,
            reason=Notification.Reason.REMINDER,
            room=room,
            seller=seller,
        )
        objects = {
            "product": product,
            "product_off": off,
            "room": room,
            "cart_item": cart_item,
            "order": order,
            "seller": seller,
            "notification": notification,
        }
        return buyer, seller, objects

    # Names: "zb" for B, "ya" for A; the list tests look for "zb-" and "zb_" in A's answers.
    buyer_b, seller_b, objects_b = side("zb")
    buyer_a, seller_a, objects_a = side("ya")
    return World(buyer_a, seller_a, buyer_b, seller_b, objects_b, objects_a)


def snapshot_of_b(world: World) -> dict:
    """Everything B owns, as plain values: compared before and after each request."""
    b_users = [world.buyer_b.pk, world.seller_b.pk]

    def rows(queryset):
        return sorted(
            (sorted(model_to_dict(obj).items(), key=lambda kv: kv[0]) for obj in queryset),
            key=repr,
        )

    users = [
        {k: v for k, v in model_to_dict(u).items() if k != "last_login"}
        for u in User.objects.filter(pk__in=b_users).order_by("pk")
    ]
    return {
        "users": repr(users),
        "products": rows(Product.objects.filter(seller__in=b_users)),
        "rooms": rows(ShoppingRoom.objects.filter(seller__in=b_users)),
        "room products": sorted(
            ShoppingRoom.products.through.objects.filter(
                shoppingroom__seller__in=b_users
            ).values_list("shoppingroom_id", "product_id")
        ),
        "room moderators": sorted(
            ShoppingRoom.moderators.through.objects.filter(
                shoppingroom__seller__in=b_users
            ).values_list("shoppingroom_id", "user_id")
        ),
        "chat": rows(ChatMessage.objects.filter(room__seller__in=b_users)),
        "carts": rows(Cart.objects.filter(user__in=b_users)),
        "cart items": rows(CartItem.objects.filter(cart__user__in=b_users)),
        "orders": rows(Order.objects.filter(buyer__in=b_users)),
        "order items": rows(OrderItem.objects.filter(order__buyer__in=b_users)),
        "order events": rows(OrderEvent.objects.filter(order__buyer__in=b_users)),
        "payment events": PaymentEvent.objects.count(),
        "notifications": rows(Notification.objects.filter(user__in=b_users)),
        "reminders": rows(RoomReminder.objects.filter(user__in=b_users)),
        "follows": rows(Follow.objects.filter(follower__in=b_users)),
        "categories": rows(Category.objects.all()),
    }


# --- the matrix ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    obj: str  # which of B's objects (World.objects key) the URL names
    actor: str  # "buyer" (buyer_a) or "seller" (seller_a)
    method: str
    expected: int | str
    data: dict | None = None


def _checks(obj, *specs):
    return tuple(Check(obj, *spec) for spec in specs)


PRODUCT_FORM = {"name": "pwned", "price": "1.00", "stock": "99", "currency": "USD"}
ROOM_FORM = {"title": "pwned"}
SHIP = {"tracking_number": "PWNED"}

# route name -> what user A tries on user B's object, and the answer A must get.
MATRIX: dict[str, tuple[Check, ...]] = {
    # --- pages --------------------------------------------------------------------------
    # Public seller profile; follow/unfollow act on A's own follow only (B's survives).
    "seller-profile": _checks("seller", ("buyer", "GET", 200)),
    "seller-follow": _checks("seller", ("buyer", "POST", 302)),
    "seller-unfollow": _checks("seller", ("buyer", "POST", 302), ("seller", "POST", 302)),
    # A product on sale is public; off sale it is its seller's only.
    "catalog:product-detail": _checks("product", ("buyer", "GET", 200))
    + _checks("product_off", ("buyer", "GET", 404), ("seller", "GET", 404)),
    "catalog:seller-product-edit": _checks(
        "product",
        ("seller", "GET", 404),
        ("seller", "POST", 404, PRODUCT_FORM),
        ("buyer", "GET", TO_SHOP),
        ("buyer", "POST", TO_SHOP, PRODUCT_FORM),
    ),
    "catalog:seller-product-deactivate": _checks(
        "product", ("seller", "POST", 404), ("buyer", "POST", TO_SHOP)
    ),
    # A room page is public (scheduled, live or ended); its seller pages are not.
    "rooms:room-detail": _checks("room", ("buyer", "GET", 200), ("seller", "GET", 200)),
    "rooms:seller-room-edit": _checks(
        "room",
        ("seller", "GET", 404),
        ("seller", "POST", 404, ROOM_FORM),
        ("buyer", "GET", TO_SHOP),
    ),
    "rooms:seller-room-studio": _checks("room", ("seller", "GET", 404), ("buyer", "GET", TO_SHOP)),
    "rooms:seller-room-go-live": _checks(
        "room", ("seller", "POST", 404), ("buyer", "POST", TO_SHOP)
    ),
    "rooms:seller-room-end": _checks("room", ("seller", "POST", 404), ("buyer", "POST", TO_SHOP)),
    "rooms:seller-room-stats": _checks("room", ("seller", "GET", 404), ("buyer", "GET", TO_SHOP)),
    # Remind me / cancel: A's own reminder on a public room; B's reminder must survive.
    "notifications:room-remind": _checks("room", ("buyer", "POST", 302)),
    "notifications:room-remind-cancel": _checks("room", ("buyer", "POST", 302)),
    "orders:cart-item": _checks(
        "cart_item",
        ("buyer", "POST", 404, {"quantity": "7"}),
        ("buyer", "POST", 404, {"action": "remove"}),
        ("seller", "POST", 404, {"quantity": "0"}),
    ),
    "orders:order-detail": _checks("order", ("buyer", "GET", 404), ("seller", "GET", 404)),
    "orders:order-pay": _checks("order", ("buyer", "POST", 404)),
    "orders:order-cancel": _checks("order", ("buyer", "POST", 404), ("seller", "POST", 404)),
    # Without the order's signed token, the test payment page is its buyer's only.
    "orders:dummy-payment": _checks(
        "order",
        ("buyer", "GET", 404),
        ("buyer", "POST", 404, {"action": "pay"}),
        ("seller", "POST", 404, {"action": "cancel"}),
    ),
    # B's order holds only seller B's products: seller A does not see it.
    "orders:seller-order-detail": _checks(
        "order", ("seller", "GET", 404), ("buyer", "GET", TO_SHOP)
    ),
    "orders:seller-order-ship": _checks(
        "order", ("seller", "POST", 404, SHIP), ("buyer", "POST", TO_SHOP, SHIP)
    ),
    # --- API /api/v1/ -------------------------------------------------------------------
    "api:api-seller": _checks("seller", ("buyer", "GET", 200)),
    "api:api-seller-follow": _checks("seller", ("buyer", "POST", 201), ("buyer", "DELETE", 204)),
    "api:api-product-detail": _checks(
        "product",
        ("buyer", "GET", 200),
        ("seller", "PATCH", 404, {"name": "pwned", "price": "1.00"}),
        ("seller", "PUT", 404, {"name": "pwned", "price": "1.00", "stock": 1}),
        ("seller", "DELETE", 404),
        ("buyer", "PATCH", 404, {"name": "pwned"}),
        ("buyer", "DELETE", 404),
    )
    + _checks("product_off", ("buyer", "GET", 404), ("seller", "GET", 404)),
    # Categories are staff-curated and read-only on the API.
    "api:api-category-detail": _checks(
        "category",
        ("buyer", "GET", 200),
        ("seller", "PATCH", 405, {"name": "pwned"}),
        ("seller", "DELETE", 405),
    ),
    "api:api-room-detail": _checks(
        "room",
        ("buyer", "GET", 200),
        ("seller", "PATCH", 404, {"title": "pwned"}),
        ("buyer", "PATCH", 403, {"title": "pwned"}),
        ("seller", "PUT", 405, {"title": "pwned"}),
        ("seller", "DELETE", 405),
    ),
    "api:api-room-chat": _checks("room", ("buyer", "GET", 200)),  # a room's chat is public
    "api:api-room-go-live": _checks("room", ("seller", "POST", 404), ("buyer", "POST", 403)),
    "api:api-room-end": _checks("room", ("seller", "POST", 404), ("buyer", "POST", 403)),
    "api:api-room-moderators": _checks(
        "room",
        ("seller", "GET", 404),
        ("seller", "PUT", 404, {"moderators": ["<seller_a>"]}),
        ("buyer", "PUT", 403, {"moderators": ["<buyer_a>"]}),
    ),
    # Documented: another seller 404, anyone else who is not a moderator 403.
    "api:api-room-spotlight": _checks(
        "room",
        ("seller", "POST", 404, {"product_id": None}),
        ("buyer", "POST", 403, {"product_id": None}),
    ),
    "api:api-room-stats": _checks("room", ("seller", "GET", 404), ("buyer", "GET", 403)),
    "api:api-cart-item": _checks(
        "cart_item",
        ("buyer", "PATCH", 404, {"quantity": 7}),
        ("buyer", "DELETE", 404),
        ("seller", "DELETE", 404),
    ),
    "api:api-order": _checks("order", ("buyer", "GET", 404), ("seller", "GET", 404)),
    "api:api-order-cancel": _checks("order", ("buyer", "POST", 404)),
    "api:api-order-pay": _checks("order", ("buyer", "POST", 404)),
    "api:api-seller-order": _checks("order", ("seller", "GET", 404), ("buyer", "GET", 403)),
    "api:api-seller-order-ship": _checks(
        "order", ("seller", "POST", 404, SHIP), ("buyer", "POST", 403, SHIP)
    ),
    "api:api-room-remind": _checks("room", ("buyer", "POST", 201), ("buyer", "DELETE", 204)),
}

# Everything under /admin/ is the staff-only admin site: a signed-in non-staff user is sent
# to the admin login for every object route (checked for each one the walk finds).
ADMIN_PREFIX = "admin/"

# Routes with a path keyword that is not an object id.
NOT_OBJECT_ROUTES = {
    "api-not-found": "the API's JSON 404 for any other path under /api/",
    "<unnamed> ^media/(?P<path>.*)$": "uploaded images, public by design (liveshop/urls.py)",
}


# --- walking the URLconf ------------------------------------------------------------------


def object_routes() -> dict[str, str]:
    """Every route whose URL takes a keyword: key (name, or "<unnamed> route") -> route."""
    found: dict[str, str] = {}

    def walk(patterns, prefix: str, namespace: str | None, keywords: set[str]):
        for pattern in patterns:
            here = keywords | set(pattern.pattern.regex.groupindex)
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern.url_patterns, route, inner, here)
            elif isinstance(pattern, URLPattern) and here:
                if pattern.name:
                    key = f"{namespace}:{pattern.name}" if namespace else pattern.name
                else:
                    key = f"<unnamed> {route}"
                found[key] = route

    walk(get_resolver().url_patterns, "", None, set())
    return found


def test_every_object_route_is_in_the_matrix():
    routes = object_routes()
    undecided = sorted(
        key
        for key, route in routes.items()
        if key not in MATRIX and key not in NOT_OBJECT_ROUTES and not route.startswith(ADMIN_PREFIX)
    )
    assert not undecided, (
        "routes that take an object id but have no IDOR decision in tests/test_idor_matrix.py "
        f"(add them to MATRIX): {undecided}"
    )
    stale = sorted(set(MATRIX) - set(routes))
    assert not stale, f"MATRIX names routes that no longer exist: {stale}"


# --- running the matrix -------------------------------------------------------------------


def _kwargs(name: str, obj) -> dict:
    if name in {"seller-profile", "seller-follow", "seller-unfollow"}:
        return {"username": obj.username}
    if name == "catalog:product-detail":
        return {"pk": obj.pk, "slug": obj.slug}
    return {"pk": obj.pk}


def _body(data, world: World):
    if data is None:
        return None
    users = {"<seller_a>": world.seller_a.pk, "<buyer_a>": world.buyer_a.pk}
    return {
        key: [users.get(v, v) for v in value] if isinstance(value, list) else value
        for key, value in data.items()
    }


def _request(client, name: str, check: Check, url: str, body):
    method = check.method.lower()
    if name.startswith("api:"):
        return getattr(client, method)(url, body, format="json")
    if check.method == "GET":
        return client.get(url)
    return client.post(url, body or {})


CASES = [(name, check) for name, checks in MATRIX.items() for check in checks]


@pytest.mark.parametrize(
    ("name", "check"),
    CASES,
    ids=[f"{name}-{c.obj}-{c.actor}-{c.method}-{i}" for i, (name, c) in enumerate(CASES)],
)
def test_user_a_against_user_b_object(name, check, world, client, auth_api, category):
    objects = {**world.objects, "category": category}
    actor = world.buyer_a if check.actor == "buyer" else world.seller_a
    url = reverse(name, kwargs=_kwargs(name, objects[check.obj]))
    if name.startswith("api:"):
        http = auth_api(actor)
    else:
        client.force_login(actor)
        http = client
    before = snapshot_of_b(world)

    answer = _request(http, name, check, url, _body(check.data, world))

    if check.expected == TO_SHOP:
        assert answer.status_code == 302, (url, answer.status_code)
        assert answer["Location"] == reverse("accounts:become-seller"), answer["Location"]
    else:
        assert answer.status_code == check.expected, (
            f"{check.actor} A {check.method} {url}: {answer.status_code}, "
            f"expected {check.expected}: {answer.content[:300]!r}"
        )
    assert snapshot_of_b(world) == before, f"{check.method} {url} changed user B's objects"


def test_the_admin_object_routes_send_non_staff_to_the_admin_login(world, client):
    """Every admin route with an object id, for a signed-in seller who is not staff."""
    client.force_login(world.seller_a)
    login = reverse("admin:login")
    before = snapshot_of_b(world)
    checked = 0
    for key, route in object_routes().items():
        if not route.startswith(ADMIN_PREFIX) or "(?P<url>" in route or "app_label" in route:
            continue  # the catch-all and the app index: no object id
        url = "/" + route.replace("<path:content_type_id>", "1")
        url = url.replace("<path:object_id>", str(world.objects["order"].pk))
        url = url.replace("<id>", str(world.buyer_b.pk))
        for method in ("get", "post"):
            answer = getattr(client, method)(url, follow=True)
            assert answer.redirect_chain, (key, url, answer.status_code)
            assert answer.redirect_chain[-1][0].startswith(login), (key, answer.redirect_chain)
        checked += 1
    assert checked >= 40  # 9 models x 5 routes, the password form and view-on-site
    assert snapshot_of_b(world) == before


# --- ids in the body rather than the URL --------------------------------------------------


def test_ids_in_bodies_reach_only_what_a_may_touch(world, client, auth_api):
    b = world.objects
    before = snapshot_of_b(world)
    client.force_login(world.buyer_a)
    api = auth_api(world.buyer_a)

    # B's notification marked read by A: nothing marked (page and API).
    page = client.post(reverse("notifications:read"), {"id": b["notification"].pk})
    assert page.status_code == 302
    marked = api.post(
        reverse("api:api-me-notifications-read"), {"ids": [b["notification"].pk]}, format="json"
    )
    assert marked.status_code == 200 and marked.json()["marked"] == 0

    # B's off-sale product cannot be added to A's cart (page and API); on sale it can.
    off = b["product_off"]
    client.post(reverse("orders:cart-add"), {"product_id": off.pk, "quantity": 1})
    refused = api.post(
        reverse("api:api-cart-items"), {"product_id": off.pk, "quantity": 1}, format="json"
    )
    assert refused.status_code in {400, 404, 409}, refused.content
    assert not CartItem.objects.filter(cart__user=world.buyer_a, product=off).exists()

    # Seller A cannot put B's product in a room of A's (API and page), nor spotlight it.
    seller_api = auth_api(world.seller_a)
    room = seller_api.post(
        reverse("api:api-room-list"),
        {
            "title": "borrowed",
            "scheduled_start": (timezone.now() + timedelta(days=2)).isoformat(),
            "products": [b["product"].pk],
        },
        format="json",
    )
    assert room.status_code == 400, room.content
    own_room = world.own["room"]
    spot = seller_api.post(
        reverse("api:api-room-spotlight", kwargs={"pk": own_room.pk}),
        {"product_id": b["product"].pk},
        format="json",
    )
    assert spot.status_code in {400, 409}, spot.content
    assert not ShoppingRoom.objects.filter(seller=world.seller_a, products=b["product"]).exists()
    own_room.refresh_from_db()
    assert own_room.spotlight_product_id is None

    assert snapshot_of_b(world) == before


# --- lists --------------------------------------------------------------------------------

B_MARKERS = ("zb-", "zb_")  # every name of B's: products, rooms, users, chat


def _assert_only_a(text: str, where: str, own_marker: str) -> None:
    leaked = [marker for marker in B_MARKERS if marker in text]
    assert not leaked, f"{where} shows user B's objects ({leaked})"
    assert own_marker in text, f"{where} does not show A's own objects: the check proves nothing"


BUYER_LISTS = {
    # name: a marker of A's own that the list must show
    "api:api-orders": "ya-ordered",
    "api:api-cart": "ya-product",
    "api:api-me-notifications": "ya-show",
    "api:api-me-following": "ya_seller",
    "orders:order-list": "ya-ordered",
    "orders:cart": "ya-product",
    "notifications:list": "ya-show",
    "following": "ya_seller",
}

SELLER_LISTS = {
    "api:api-product-mine": "ya-offsale",
    "api:api-seller-orders": "ya-ordered",
    "api:seller-stats": "ya-show",
    "catalog:seller-products": "ya-offsale",
    "rooms:seller-rooms": "ya-show",
    "orders:seller-orders": "ya_buyer",
    "rooms:seller-dashboard": "ya-show",
}


@pytest.mark.parametrize(
    ("name", "actor", "own_marker"),
    [(n, "buyer", m) for n, m in BUYER_LISTS.items()]
    + [(n, "seller", m) for n, m in SELLER_LISTS.items()],
)
def test_lists_never_show_user_b_objects(name, actor, own_marker, world, client, auth_api):
    user = world.buyer_a if actor == "buyer" else world.seller_a
    if name.startswith("api:"):
        answer = auth_api(user).get(reverse(name))
    else:
        client.force_login(user)
        answer = client.get(reverse(name))
    assert answer.status_code == 200, (name, answer.status_code)
    _assert_only_a(answer.content.decode(), name, own_marker)


def test_public_lists_hide_b_products_off_sale(world, client):
    """The public product list (API and page) shows B's product on sale, never B's
    product off sale."""
    for answer in (client.get(reverse("api:api-product-list")), client.get("/products/")):
        text = answer.content.decode()
        assert "zb-product" in text
        assert "zb-offsale" not in text


def test_a_seller_sees_only_their_own_lines_of_a_mixed_order(world, auth_api):
    """An order holding products of both sellers: each sees it, with their own lines only."""
    from orders import services as order_services

    mixed_buyer = world.buyer_b
    cart = order_services.cart_for_user(user=mixed_buyer)
    cart.items.all().delete()
    order_services.cart_add(cart=cart, product=world.own["product"], quantity=1)
    order_services.cart_add(cart=cart, product=world.objects["product"], quantity=1)
    order = order_services.checkout_create_order(user=mixed_buyer)

    answer = auth_api(world.seller_a).get(reverse("api:api-seller-order", kwargs={"pk": order.pk}))
    assert answer.status_code == 200
    names = [item["name"] for item in answer.json()["items"]]
    assert names == ["ya-product"]
    listed = auth_api(world.seller_a).get(reverse("api:api-seller-orders")).content.decode()
    assert "zb-product" not in listed
