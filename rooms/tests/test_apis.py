"""The rooms REST API as a mobile app sees it: /api/v1/rooms/."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from catalog import services as catalog_services
from catalog.tests.helpers import assert_error_shape, pdf_as_png
from conftest import image_upload
from rooms import services
from rooms.models import ShoppingRoom
from rooms.selectors import product_summary
from rooms.store import get_store

ROOMS = "/api/v1/rooms/"

DETAIL_FIELDS = {
    "id",
    "title",
    "description",
    "status",
    "scheduled_start",
    "started_at",
    "ended_at",
    "cover_image_url",
    "seller",
    "products",
    "spotlight",
    "viewer_count",
    "stream_status",
    "peak_viewers",
    "total_chat_messages",
    "moderators",
    "ws_url",
    "url",
}


def detail(room_or_id) -> str:
    return f"{ROOMS}{getattr(room_or_id, 'pk', room_or_id)}/"


def go_live(room) -> str:
    return f"{detail(room)}go-live/"


def end(room) -> str:
    return f"{detail(room)}end/"


def spotlight(room) -> str:
    return f"{detail(room)}spotlight/"


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["title"] for item in response.json()["results"]]


def fresh(room) -> ShoppingRoom:
    return ShoppingRoom.objects.get(pk=room.pk)


def join(room, *viewers: str) -> None:
    for viewer in viewers:
        async_to_sync(get_store().viewer_join)(str(room.pk), viewer)


def ended(make_room, **fields) -> ShoppingRoom:
    room = make_room(live=True, **fields)
    return services.room_end(room=room, actor=room.seller)


@pytest.fixture
def new_room(make_product) -> dict:
    """A valid create body (for the `seller` fixture), with two of the seller's products."""
    scarf = make_product(name="Silk scarf")
    hat = make_product(name="Wool hat")
    return {
        "title": "Autumn collection",
        "description": "Warm things for cold days.",
        "scheduled_start": "2031-10-01T18:00:00Z",
        "products": [scarf.pk, hat.pk],
    }


@pytest.fixture
def olgas_product(make_product, other_seller):
    return make_product(seller=other_seller, name="Olga's vase")


@pytest.fixture
def staff(make_user):
    user = make_user("stella_staff")
    User.objects.filter(pk=user.pk).update(is_staff=True)
    return User.objects.get(pk=user.pk)


# --- list -------------------------------------------------------------------------------


def test_room_list_is_public_and_paginated(api_client, make_room):
    for number in range(23):
        make_room(title=f"Show {number}", products=[])

    first = api_client.get(ROOMS)
    second = api_client.get(first.json()["next"])

    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 23
    assert len(body["results"]) == 20
    assert len(second.json()["results"]) == 3
    assert {*titles(first), *titles(second)} == {f"Show {number}" for number in range(23)}


def test_room_list_shows_live_then_upcoming_soonest_first_then_ended_latest_first(
    api_client, make_room
):
    now = timezone.now()
    make_room(title="Upcoming later", scheduled_start=now + timedelta(days=3), products=[])
    make_room(title="Upcoming soon", scheduled_start=now + timedelta(hours=1), products=[])
    ended(make_room, title="Ended first", scheduled_start=now - timedelta(days=5), products=[])
    make_room(title="Live now", live=True, products=[])
    ended(make_room, title="Ended last", scheduled_start=now - timedelta(days=9), products=[])

    assert titles(api_client.get(ROOMS)) == [
        "Live now",
        "Upcoming soon",
        "Upcoming later",
        "Ended last",
        "Ended first",
    ]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [("live", ["On air"]), ("scheduled", ["Tomorrow"]), ("ended", ["Yesterday"])],
)
def test_room_list_filters_by_status(api_client, make_room, wanted, expected):
    make_room(title="On air", live=True, products=[])
    make_room(title="Tomorrow", products=[])
    ended(make_room, title="Yesterday", products=[])

    assert titles(api_client.get(ROOMS, {"status": wanted})) == expected


def test_room_list_filters_by_seller_username(api_client, make_room, other_seller):
    make_room(title="Sam's show", products=[])
    make_room(title="Olga's show", seller_user=other_seller, products=[])

    assert titles(api_client.get(ROOMS, {"seller": "olga_seller"})) == ["Olga's show"]
    assert titles(api_client.get(ROOMS, {"seller": "nobody"})) == []


def test_invalid_status_filter_is_a_400_with_the_error_shape(api_client, make_room):
    make_room(products=[])

    response = api_client.get(ROOMS, {"status": "paused"})

    assert response.status_code == 400
    assert "status" in assert_error_shape(response.json(), code="invalid")["fields"]


def test_room_list_hides_rooms_of_deactivated_sellers(api_client, make_room, other_seller):
    make_room(title="Sam's show", products=[])
    make_room(title="Olga's show", seller_user=other_seller, products=[])
    User.objects.filter(pk=other_seller.pk).update(is_active=False)

    assert titles(api_client.get(ROOMS)) == ["Sam's show"]


def test_room_list_shows_the_audience_and_spotlight_of_live_rooms(api_client, make_room):
    room = make_room(title="On air", live=True)
    product = room.products.get()
    services.room_spotlight(room=room, actor=room.seller, product_id=product.pk)
    join(room, "user:1", "user:2", "anon:x")

    item = api_client.get(ROOMS).json()["results"][0]

    assert item["viewer_count"] == 3
    assert item["spotlight"] == product_summary(product)
    assert item["ws_url"] == f"/ws/rooms/{room.pk}/"
    assert item["url"] == room.get_absolute_url()
    assert item["seller"]["username"] == "sam_seller"


# --- detail -----------------------------------------------------------------------------


def test_room_detail_shows_what_a_viewer_needs(api_client, make_room, make_product, buyer):
    scarf = make_product(name="Silk scarf")
    room = make_room(
        title="Evening show",
        description="New arrivals",
        products=[scarf],
        moderators=[buyer],
    )

    response = api_client.get(detail(room))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == DETAIL_FIELDS
    assert body["id"] == room.pk
    assert body["title"] == "Evening show"
    assert body["description"] == "New arrivals"
    assert body["status"] == "scheduled"
    assert parse_datetime(body["scheduled_start"]) == room.scheduled_start
    assert body["started_at"] is None and body["ended_at"] is None
    assert body["cover_image_url"] is None
    assert body["seller"] == {
        "id": room.seller.pk,
        "username": "sam_seller",
        "display_name": "",
        "shop_name": "sam_seller's shop",
    }
    assert [p["id"] for p in body["products"]] == [scarf.pk]
    product = body["products"][0]
    assert product["name"] == "Silk scarf" and product["price"] == "59.00"
    assert product["seller"]["username"] == "sam_seller"
    assert product["category"]["slug"] == "fashion"
    assert body["spotlight"] is None
    assert body["viewer_count"] == 0
    assert body["stream_status"] == "waiting"
    assert body["peak_viewers"] == 0 and body["total_chat_messages"] == 0
    assert body["moderators"] == [
        {"id": buyer.pk, "username": "bella_buyer", "display_name": "bella_buyer"}
    ]
    assert body["ws_url"] == f"/ws/rooms/{room.pk}/"
    assert body["url"] == room.get_absolute_url()


def test_room_detail_counts_viewers_from_the_room_store_only_while_live(api_client, make_room):
    live = make_room(live=True)
    scheduled = make_room()
    join(live, "user:1", "user:2")
    join(scheduled, "user:3")  # a stale entry must not make an offline room look watched

    assert api_client.get(detail(live)).json()["viewer_count"] == 2
    assert api_client.get(detail(scheduled)).json()["viewer_count"] == 0


def test_room_detail_spotlight_comes_from_the_room_store_first(api_client, make_room):
    room = make_room(live=True)
    in_store = {"id": 999, "name": "From the store", "price": "1.00", "currency": "USD"}
    async_to_sync(get_store().spotlight_set)(str(room.pk), in_store)

    assert api_client.get(detail(room)).json()["spotlight"] == in_store


def test_room_detail_spotlight_falls_back_to_the_database(api_client, make_room):
    room = make_room(live=True)
    product = room.products.get()
    # The database knows the spotlight but the store does not (e.g. a fresh Redis).
    services.room_spotlight(room=room, actor=room.seller, product_id=product.pk)
    assert async_to_sync(get_store().spotlight_get)(str(room.pk)) is None

    assert api_client.get(detail(room)).json()["spotlight"] == product_summary(product)


def test_room_detail_lists_only_products_on_sale(api_client, make_room, make_product):
    on_sale = make_product(name="On sale")
    withdrawn = make_product(name="Withdrawn")
    room = make_room(products=[on_sale, withdrawn])
    catalog_services.product_deactivate(product=withdrawn, actor=room.seller)

    products = api_client.get(detail(room)).json()["products"]

    assert [p["name"] for p in products] == ["On sale"]


def test_room_of_a_deactivated_seller_is_404(api_client, make_room, seller):
    room = make_room()
    User.objects.filter(pk=seller.pk).update(is_active=False)

    response = api_client.get(detail(room))

    assert response.status_code == 404
    assert_error_shape(response.json(), code="not_found")


@pytest.mark.parametrize(
    "room_id", ["987654", "not-a-number", "507f1f77bcf86cd799439011", "9" * 30]
)
def test_missing_room_or_malformed_id_is_404(api_client, db, room_id):
    response = api_client.get(detail(room_id))

    assert response.status_code == 404
    assert_error_shape(response.json(), code="not_found")


# --- create -----------------------------------------------------------------------------


def test_seller_creates_a_room_with_json(auth_api, seller, new_room):
    response = auth_api(seller).post(ROOMS, new_room, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == DETAIL_FIELDS
    room = ShoppingRoom.objects.get()
    assert body["id"] == room.pk
    assert body["status"] == "scheduled"
    assert body["title"] == "Autumn collection"
    assert parse_datetime(body["scheduled_start"]) == parse_datetime("2031-10-01T18:00:00Z")
    assert room.seller == seller
    assert sorted(p["id"] for p in body["products"]) == sorted(new_room["products"])
    assert set(room.products.values_list("pk", flat=True)) == set(new_room["products"])
    assert body["moderators"] == []


def test_seller_creates_a_room_with_a_cover_image_and_moderators(auth_api, seller, buyer, new_room):
    body = {**new_room, "moderators": [buyer.pk], "cover_image": image_upload("cover.png")}

    response = auth_api(seller).post(ROOMS, body, format="multipart")

    assert response.status_code == 201, response.content
    room = ShoppingRoom.objects.get()
    assert room.cover_image.name.startswith("rooms/")
    assert not room.cover_image.name.endswith("cover.png")  # the server names the file
    assert response.json()["cover_image_url"].startswith("http://testserver/")
    assert [m["id"] for m in response.json()["moderators"]] == [buyer.pk]
    assert room.products.count() == 2


def test_seller_may_create_a_room_without_products(auth_api, seller, new_room):
    del new_room["products"]

    response = auth_api(seller).post(ROOMS, new_room, format="json")

    assert response.status_code == 201
    assert response.json()["products"] == []


def test_created_room_belongs_to_the_caller_even_if_the_body_names_another_seller(
    auth_api, seller, other_seller, new_room
):
    body = {**new_room, "seller": other_seller.pk, "status": "live", "peak_viewers": 500}

    response = auth_api(seller).post(ROOMS, body, format="json")

    assert response.status_code == 201
    room = ShoppingRoom.objects.get()
    assert room.seller == seller
    assert room.status == "scheduled"
    assert room.peak_viewers == 0


def test_the_seller_is_never_a_moderator_of_their_own_room(auth_api, seller, buyer, new_room):
    body = {**new_room, "moderators": [seller.pk, buyer.pk]}

    response = auth_api(seller).post(ROOMS, body, format="json")

    assert response.status_code == 201
    assert [m["id"] for m in response.json()["moderators"]] == [buyer.pk]


def test_buyer_cannot_create_a_room(auth_api, buyer, new_room):
    response = auth_api(buyer).post(ROOMS, new_room, format="json")

    assert response.status_code == 403
    assert_error_shape(response.json(), code="permission_denied")
    assert not ShoppingRoom.objects.exists()


def test_anonymous_visitor_cannot_create_a_room(api_client, new_room):
    response = api_client.post(ROOMS, new_room, format="json")

    assert response.status_code == 401
    assert_error_shape(response.json(), code="not_authenticated")
    assert not ShoppingRoom.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "t" * 10_000}, "title"),
        ({"description": "d" * 2001}, "description"),
        ({"scheduled_start": None}, "scheduled_start"),
        ({"scheduled_start": "next tuesday"}, "scheduled_start"),
        ({"scheduled_start": "2031-02-30T18:00:00Z"}, "scheduled_start"),
        ({"products": "1,2"}, "products"),
        ({"products": 5}, "products"),
        ({"products": {"id": 5}}, "products"),
        ({"products": [987654]}, "products"),
        ({"products": ["not-an-id"]}, "products"),
        ({"products": [True]}, "products"),
        ({"products": [int("9" * 30)]}, "products"),
        ({"products": ["7" * 1_000_000]}, "products"),
        ({"products": list(range(1, 102))}, "products"),
        ({"moderators": [987654]}, "moderators"),
        ({"moderators": "everyone"}, "moderators"),
    ],
    ids=[
        "missing-title",
        "empty-title",
        "blank-title",
        "10kB-title",
        "long-description",
        "missing-start",
        "bad-date",
        "impossible-date",
        "products-string",
        "products-number",
        "products-object",
        "unknown-product",
        "malformed-product-id",
        "boolean-product-id",
        "huge-product-id",
        "megabyte-product-id",
        "too-many-products",
        "unknown-moderator",
        "moderators-string",
    ],
)
def test_invalid_room_is_refused_with_field_errors_and_nothing_created(
    auth_api, seller, new_room, change, field
):
    body = {**new_room, **change}
    body = {key: value for key, value in body.items() if value is not None}

    response = auth_api(seller).post(ROOMS, body, format="json")

    assert response.status_code == 400, response.content
    assert field in assert_error_shape(response.json(), code="invalid")["fields"]
    assert len(response.content) < 10_000  # the answer does not echo a huge value back
    assert not ShoppingRoom.objects.exists()


def test_another_sellers_product_is_refused_like_an_unknown_one(
    auth_api, seller, new_room, olgas_product
):
    body = {**new_room, "products": [*new_room["products"], olgas_product.pk]}

    response = auth_api(seller).post(ROOMS, body, format="json")

    assert response.status_code == 400
    error = assert_error_shape(response.json(), code="invalid")
    assert error["fields"] == {"products": [f"You have no product with id {olgas_product.pk}."]}
    assert "Olga" not in response.content.decode()  # nothing about her products leaks
    assert not ShoppingRoom.objects.exists()


def test_own_product_off_sale_is_refused(auth_api, seller, new_room, make_product):
    withdrawn = make_product(name="Withdrawn jacket")
    catalog_services.product_deactivate(product=withdrawn, actor=seller)
    body = {**new_room, "products": [withdrawn.pk]}

    response = auth_api(seller).post(ROOMS, body, format="json")

    assert response.status_code == 400
    error = assert_error_shape(response.json(), code="invalid")
    assert "Withdrawn jacket" in error["fields"]["products"][0]
    assert not ShoppingRoom.objects.exists()


def test_a_pdf_renamed_png_as_cover_is_refused(auth_api, seller, new_room):
    body = {**new_room, "cover_image": pdf_as_png("cover.png")}

    response = auth_api(seller).post(ROOMS, body, format="multipart")

    assert response.status_code == 400
    assert "cover_image" in assert_error_shape(response.json(), code="invalid")["fields"]
    assert not ShoppingRoom.objects.exists()


def test_a_body_that_is_not_json_is_a_parse_error(auth_api, seller, db):
    response = auth_api(seller).post(ROOMS, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert_error_shape(response.json(), code="parse_error")
    assert not ShoppingRoom.objects.exists()


# --- change -----------------------------------------------------------------------------


def test_seller_changes_their_own_room_partially(auth_api, seller, make_room, make_product):
    room = make_room(title="Old title", description="Kept")
    vase = make_product(name="Vase")

    response = auth_api(seller).patch(
        detail(room), {"title": "New title", "products": [vase.pk]}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "New title"
    assert body["description"] == "Kept"
    assert [p["name"] for p in body["products"]] == ["Vase"]
    room = fresh(room)
    assert room.title == "New title" and room.description == "Kept"
    assert list(room.products.all()) == [vase]


def test_seller_replaces_the_moderators_and_the_schedule(auth_api, seller, make_room, buyer):
    room = make_room(moderators=[buyer])
    new_start = "2032-01-02T10:30:00Z"

    response = auth_api(seller).patch(
        detail(room), {"moderators": [], "scheduled_start": new_start}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["moderators"] == []
    assert fresh(room).scheduled_start == parse_datetime(new_start)
    assert not fresh(room).moderators.exists()


def test_seller_sets_and_then_removes_the_cover_image(auth_api, seller, make_room):
    room = make_room()
    client = auth_api(seller)

    added = client.patch(detail(room), {"cover_image": image_upload("c.png")}, format="multipart")
    assert added.status_code == 200, added.content
    assert added.json()["cover_image_url"]
    assert fresh(room).cover_image

    removed = client.patch(detail(room), {"cover_image": None}, format="json")
    assert removed.status_code == 200
    assert removed.json()["cover_image_url"] is None
    assert not fresh(room).cover_image


def test_dropping_the_spotlit_product_clears_the_spotlight(
    auth_api, seller, make_room, make_product
):
    room = make_room(live=True)
    spotlit = room.products.get()
    services.room_spotlight(room=room, actor=seller, product_id=spotlit.pk)
    other = make_product(name="Other")

    response = auth_api(seller).patch(detail(room), {"products": [other.pk]}, format="json")

    assert response.status_code == 200
    assert response.json()["spotlight"] is None
    assert fresh(room).spotlight_product is None


def test_invalid_change_is_refused_and_leaves_the_room_unchanged(
    auth_api, seller, make_room, olgas_product
):
    room = make_room(title="Evening show")
    before = set(room.products.all())

    response = auth_api(seller).patch(
        detail(room), {"title": "", "products": [olgas_product.pk]}, format="json"
    )

    assert response.status_code == 400
    assert {"title", "products"} <= set(assert_error_shape(response.json())["fields"])
    assert fresh(room).title == "Evening show"
    assert set(room.products.all()) == before


def test_seller_cannot_change_another_sellers_room(auth_api, other_seller, make_room):
    room = make_room(title="Sam's show")

    response = auth_api(other_seller).patch(detail(room), {"title": "Mine now"}, format="json")

    assert response.status_code == 404
    assert_error_shape(response.json(), code="not_found")
    assert fresh(room).title == "Sam's show"


def test_buyer_and_anonymous_visitor_cannot_change_a_room(auth_api, api_client, buyer, make_room):
    room = make_room(title="Sam's show")

    as_buyer = auth_api(buyer).patch(detail(room), {"title": "x"}, format="json")
    as_anonymous = api_client.patch(detail(room), {"title": "x"}, format="json")

    assert as_buyer.status_code == 403
    assert_error_shape(as_buyer.json(), code="permission_denied")
    assert as_anonymous.status_code == 401
    assert_error_shape(as_anonymous.json(), code="not_authenticated")
    assert fresh(room).title == "Sam's show"


def test_an_ended_room_can_no_longer_be_changed(auth_api, seller, make_room):
    room = ended(make_room, title="Done")

    response = auth_api(seller).patch(detail(room), {"title": "Again"}, format="json")

    assert response.status_code == 409
    assert_error_shape(response.json(), code="room_ended")
    assert fresh(room).title == "Done"


def test_put_and_delete_are_not_offered(auth_api, seller, make_room, new_room):
    room = make_room()
    client = auth_api(seller)

    assert client.put(detail(room), new_room, format="json").status_code == 405
    assert client.delete(detail(room)).status_code == 405
    assert ShoppingRoom.objects.filter(pk=room.pk).exists()


# --- going live and ending --------------------------------------------------------------


def test_seller_goes_live_and_then_ends_the_show(auth_api, seller, make_room):
    room = make_room()
    client = auth_api(seller)

    live = client.post(go_live(room))

    assert live.status_code == 200, live.content
    assert live.json()["status"] == "live"
    assert live.json()["started_at"] is not None
    assert fresh(room).status == "live"

    over = client.post(end(room))

    assert over.status_code == 200
    assert over.json()["status"] == "ended"
    assert over.json()["ended_at"] is not None
    assert over.json()["viewer_count"] == 0
    assert fresh(room).status == "ended"


@pytest.mark.parametrize(
    ("state", "url", "code"),
    [
        ("live", go_live, "illegal_transition"),
        ("ended", go_live, "room_ended"),
        ("scheduled", end, "illegal_transition"),
        ("ended", end, "room_ended"),
    ],
)
def test_illegal_transitions_are_409_and_change_nothing(
    auth_api, seller, make_room, state, url, code
):
    room = {
        "scheduled": lambda: make_room(),
        "live": lambda: make_room(live=True),
        "ended": lambda: ended(make_room),
    }[state]()

    response = auth_api(seller).post(url(room))

    assert response.status_code == 409
    assert_error_shape(response.json(), code=code)
    assert fresh(room).status == state


@pytest.mark.parametrize("url", [go_live, end])
def test_seller_cannot_open_or_end_another_sellers_room(auth_api, other_seller, make_room, url):
    room = make_room(live=url is end)
    status_before = room.status

    response = auth_api(other_seller).post(url(room))

    assert response.status_code == 404
    assert_error_shape(response.json(), code="not_found")
    assert fresh(room).status == status_before


@pytest.mark.parametrize("url", [go_live, end])
def test_buyer_and_anonymous_visitor_cannot_open_or_end_a_room(
    auth_api, api_client, buyer, make_room, url
):
    room = make_room(live=url is end)
    status_before = room.status

    assert auth_api(buyer).post(url(room)).status_code == 403
    assert api_client.post(url(room)).status_code == 401
    assert fresh(room).status == status_before


# --- spotlight --------------------------------------------------------------------------


def test_seller_spotlights_a_product_and_the_detail_shows_it(
    auth_api, api_client, seller, make_room, django_capture_on_commit_callbacks
):
    room = make_room(live=True)
    product = room.products.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = auth_api(seller).post(spotlight(room), {"product_id": product.pk}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["spotlight"] == product_summary(product)
    assert fresh(room).spotlight_product == product
    # After the commit the room store (what sockets read) has it too.
    assert async_to_sync(get_store().spotlight_get)(str(room.pk)) == product_summary(product)
    assert api_client.get(detail(room)).json()["spotlight"] == product_summary(product)


def test_spotlight_is_shown_even_before_the_store_hears_of_it(
    auth_api, api_client, seller, make_room
):
    room = make_room(live=True)
    product = room.products.get()

    auth_api(seller).post(spotlight(room), {"product_id": product.pk}, format="json")

    assert api_client.get(detail(room)).json()["spotlight"] == product_summary(product)


def test_seller_clears_the_spotlight_with_null(
    auth_api, seller, make_room, django_capture_on_commit_callbacks
):
    room = make_room(live=True)
    product = room.products.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.room_spotlight(room=room, actor=seller, product_id=product.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = auth_api(seller).post(spotlight(room), {"product_id": None}, format="json")

    assert response.status_code == 200
    assert response.json()["spotlight"] is None
    assert fresh(room).spotlight_product is None
    assert async_to_sync(get_store().spotlight_get)(str(room.pk)) is None


def test_a_named_moderator_may_spotlight(auth_api, buyer, make_room):
    room = make_room(live=True, moderators=[buyer])
    product = room.products.get()

    response = auth_api(buyer).post(spotlight(room), {"product_id": product.pk}, format="json")

    assert response.status_code == 200, response.content
    assert fresh(room).spotlight_product == product


def test_staff_may_spotlight(auth_api, staff, make_room):
    room = make_room(live=True)
    product = room.products.get()

    response = auth_api(staff).post(spotlight(room), {"product_id": product.pk}, format="json")

    assert response.status_code == 200
    assert fresh(room).spotlight_product == product


def test_a_buyer_who_is_not_a_moderator_cannot_spotlight(auth_api, buyer, make_room):
    room = make_room(live=True)
    product = room.products.get()

    response = auth_api(buyer).post(spotlight(room), {"product_id": product.pk}, format="json")

    assert response.status_code == 403
    assert_error_shape(response.json(), code="permission_denied")
    assert fresh(room).spotlight_product is None


def test_another_seller_cannot_spotlight_in_a_room_that_is_not_theirs(
    auth_api, other_seller, make_room
):
    room = make_room(live=True)
    product = room.products.get()

    response = auth_api(other_seller).post(
        spotlight(room), {"product_id": product.pk}, format="json"
    )

    assert response.status_code == 404
    assert_error_shape(response.json(), code="not_found")
    assert fresh(room).spotlight_product is None


def test_anonymous_visitor_cannot_spotlight(api_client, make_room):
    room = make_room(live=True)

    response = api_client.post(spotlight(room), {"product_id": None}, format="json")

    assert response.status_code == 401
    assert_error_shape(response.json(), code="not_authenticated")


@pytest.mark.parametrize(
    "body",
    [{}, {"product_id": "not-an-id"}, {"product_id": 987654}, {"product_id": "9" * 30}],
    ids=["missing", "malformed", "unknown", "huge"],
)
def test_spotlight_needs_a_product_id_of_the_room(auth_api, seller, make_room, body):
    room = make_room(live=True)

    response = auth_api(seller).post(spotlight(room), body, format="json")

    assert response.status_code == 400
    assert "product_id" in assert_error_shape(response.json(), code="invalid")["fields"]
    assert fresh(room).spotlight_product is None


def test_a_product_outside_the_room_cannot_be_spotlit(
    auth_api, seller, make_room, make_product, olgas_product
):
    room = make_room(live=True)
    not_in_room = make_product(name="Not in this room")

    for product in (not_in_room, olgas_product):
        response = auth_api(seller).post(spotlight(room), {"product_id": product.pk}, format="json")
        assert response.status_code == 400
        assert "product_id" in assert_error_shape(response.json(), code="invalid")["fields"]
    assert fresh(room).spotlight_product is None


def test_nothing_can_be_spotlit_in_an_ended_room(auth_api, seller, make_room):
    room = ended(make_room)
    product = room.products.get()

    response = auth_api(seller).post(spotlight(room), {"product_id": product.pk}, format="json")

    assert response.status_code == 409
    assert_error_shape(response.json(), code="room_ended")
    assert fresh(room).spotlight_product is None


# --- performance ------------------------------------------------------------------------


def _list_queries(api_client, make_room, make_product, other_seller, buyer, count: int) -> int:
    ShoppingRoom.objects.all().delete()
    for number in range(count):
        owner = other_seller if number % 2 else None
        products = [
            make_product(name=f"Item {number}-{n}", **({"seller": owner} if owner else {}))
            for n in range(2)
        ]
        room = make_room(
            title=f"Show {number}",
            seller_user=owner,
            products=products,
            moderators=[buyer],
            live=number % 3 == 0,
        )
        if number % 3 == 0:
            services.room_spotlight(room=room, actor=room.seller, product_id=products[0].pk)
    with CaptureQueriesContext(connection) as queries:
        response = api_client.get(ROOMS)
    assert response.status_code == 200
    assert len(response.json()["results"]) == count
    return len(queries)


def test_room_list_query_count_does_not_grow_with_rooms(
    api_client, make_room, make_product, other_seller, buyer
):
    few = _list_queries(api_client, make_room, make_product, other_seller, buyer, 2)
    many = _list_queries(api_client, make_room, make_product, other_seller, buyer, 10)

    assert few == many
    assert many <= 3


def test_room_detail_query_count_does_not_grow_with_products(
    api_client, make_room, make_product, make_user
):
    def queries_for(count: int) -> int:
        room = make_room(
            products=[make_product(name=f"P{n}") for n in range(count)],
            moderators=[make_user() for _ in range(count)],
        )
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get(detail(room))
        assert len(response.json()["products"]) == count
        return len(queries)

    assert queries_for(1) == queries_for(8)
