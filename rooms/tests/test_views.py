"""Room pages: home and rooms list (the shop window), the room page, the seller's room pages."""

import re
from datetime import timedelta

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.messages import get_messages
from django.utils import timezone

from conftest import image_upload, private_redis_server
from rooms import services
from rooms.models import ShoppingRoom
from rooms.store import get_store

LIST = "/rooms/"
SELLER_LIST = "/seller/rooms/"
SELLER_NEW = "/seller/rooms/new/"


def room_url(room) -> str:
    return f"/rooms/{room.pk}/"


def edit_url(room) -> str:
    return f"/seller/rooms/{room.pk}/edit/"


def go_live_url(room) -> str:
    return f"/seller/rooms/{room.pk}/go-live/"


def end_url(room) -> str:
    return f"/seller/rooms/{room.pk}/end/"


def flashes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def position(text: str, *needles: str) -> list[int]:
    """Where each needle first appears in the page (all must appear)."""
    places = [text.find(needle) for needle in needles]
    assert -1 not in places, dict(zip(needles, places, strict=True))
    return places


def in_hours(hours: float):
    return timezone.now() + timedelta(hours=hours)


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


@pytest.fixture
def ended_room(make_room, seller):
    room = make_room(live=True, title="Last week's show")
    return services.room_end(room=room, actor=seller)


@pytest.fixture
def form_data(make_product) -> dict:
    scarf = make_product(name="Silk scarf")
    boots = make_product(name="Ankle boots")
    return {
        "title": "Friday fashion hour",
        "description": "New arrivals, live.",
        "scheduled_start": (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "products": [scarf.pk, boots.pk],
        "moderators": "",
    }


# --- rooms list --------------------------------------------------------------------------


def test_room_list_shows_live_then_upcoming_soonest_first_then_recently_ended(
    client, make_room, ended_room
):
    make_room(title="Next month's show", scheduled_start=in_hours(24 * 30))
    make_room(title="Tomorrow's show", scheduled_start=in_hours(24))
    make_room(title="On air now", live=True)

    response = client.get(LIST)

    assert response.status_code == 200
    assert [room.title for room in response.context["live_rooms"]] == ["On air now"]
    assert [room.title for room in response.context["upcoming_rooms"]] == [
        "Tomorrow's show",
        "Next month's show",
    ]
    assert [room.title for room in response.context["ended_rooms"]] == ["Last week's show"]
    places = position(
        response.text,
        "Live now",
        "On air now",
        "Upcoming",
        "Tomorrow&#x27;s show",
        "Next month&#x27;s show",
        "Recently ended",
        "Last week&#x27;s show",
    )
    assert places == sorted(places)


def test_room_list_shows_how_many_watch_each_live_room(client, make_room):
    room = make_room(title="On air now", live=True)
    for viewer in ("user:1", "user:2", "anon:x"):
        async_to_sync(get_store().viewer_join)(str(room.pk), viewer)

    response = client.get(LIST)

    assert response.context["live_rooms"][0].viewer_count == 3
    assert "3 watching" in response.text
    assert 'class="badge badge--live"' in response.text


@pytest.fixture
def redis_room_store(settings):
    """The Redis room store on a redis-server of this test's own, so that nothing else's
    traffic shows in its counters."""
    saved = settings.REDIS_URL
    with private_redis_server() as (url, _process):
        settings.REDIS_URL = url  # read by get_store() only; the cache stays in memory
        get_store.cache_clear()
        try:
            yield redis.Redis.from_url(url)
        finally:
            # Back now, not when `settings` is undone: the room fixtures' teardown empties
            # the store before that.
            settings.REDIS_URL = saved
            get_store.cache_clear()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)  # the page is asked from a thread, as a server does
async def test_room_list_reads_all_viewer_counts_in_one_round_trip_however_many_are_live(
    client, make_room, redis_room_store
):
    """One read of the store per live room made the shop window slower with every show on
    air. Redis counts the reads it serves: one per request, or per pipelined batch."""

    async def round_trips() -> int:
        before = redis_room_store.info("stats")["total_reads_processed"]
        # From a worker thread, as under a server: the store's reads run on this event loop,
        # over the one connection it keeps (none is opened or closed for the page).
        assert (await sync_to_async(client.get)(LIST)).status_code == 200
        return redis_room_store.info("stats")["total_reads_processed"] - before - 1

    async def go_live(n: int) -> None:
        room = await sync_to_async(make_room)(title=f"Show {n}", live=True)
        for viewer in range(n):
            await get_store().viewer_join(str(room.pk), f"anon:{viewer}")

    await go_live(1)
    await round_trips()  # the first page warms up what is read once (templates, connection)
    with_one = await round_trips()
    for n in range(2, 11):
        await go_live(n)
    with_ten = await round_trips()

    assert with_one == with_ten == 1
    cards = (await sync_to_async(client.get)(LIST)).text.split("<article")[1:]
    shown = {
        re.search(r">Show (\d+)</a>", card)[1]: re.search(r">(\d+) watching<", card)[1]
        for card in cards
    }
    assert shown == {str(n): str(n) for n in range(1, 11)}  # each room's own count


def test_room_list_shows_the_start_time_of_upcoming_rooms(client, make_room):
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    make_room(title="Later", scheduled_start=start)

    response = client.get(LIST)

    assert f'datetime="{start.isoformat()}"' in response.text
    assert start.strftime("%H:%M") in response.text


def test_room_list_says_when_nothing_is_on(client, db):
    response = client.get(LIST)

    assert response.status_code == 200
    assert "Nobody is live right now." in response.text
    assert "No shows are scheduled yet." in response.text
    assert "No shows have ended yet." in response.text


def test_room_list_hides_rooms_of_deactivated_sellers(client, make_room, seller):
    make_room(title="Gone seller's show", live=True)
    seller.is_active = False
    seller.save(update_fields=["is_active"])

    response = client.get(LIST)

    assert "Gone seller" not in response.text


# --- the room page -----------------------------------------------------------------------


def test_room_page_shows_video_area_products_and_live_bits(client, make_room, make_product):
    lamp = make_product(name="Brass lamp", stock=0)
    room = make_room(products=[make_product(name="Silk scarf"), lamp])

    response = client.get(room_url(room))

    assert response.status_code == 200
    text = response.text
    assert 'id="room-video"' in text
    assert "Live video starts when the seller goes live" in text
    assert f'data-room-id="{room.pk}"' in text
    assert 'id="viewer-count"' in text and 'id="spotlight"' in text
    assert 'id="chat-log" class="chat__log" role="log" aria-live="polite"' in text
    assert "Silk scarf" in text and "Brass lamp" in text
    assert lamp.get_absolute_url() in text
    assert "Sold out" in text
    assert "data-cart-slot" in text  # where "Add to cart" goes once orders exist
    assert 'type="module" src="/static/js/room.js"' in text
    assert 'id="room-i18n"' in text


def test_room_page_for_unknown_room_is_not_found(client, db):
    assert client.get("/rooms/987654/").status_code == 404


def test_room_page_of_deactivated_seller_is_not_found(client, make_room, seller):
    room = make_room()
    seller.is_active = False
    seller.save(update_fields=["is_active"])

    assert client.get(room_url(room)).status_code == 404


def test_room_page_leaves_out_products_taken_off_sale(client, make_room, make_product, seller):
    from catalog import services as catalog_services

    vase = make_product(name="Glass vase")
    room = make_room(products=[make_product(name="Silk scarf"), vase])
    catalog_services.product_deactivate(product=vase, actor=seller)

    response = client.get(room_url(room))

    assert [product.name for product in response.context["products"]] == ["Silk scarf"]


def test_anonymous_visitors_are_asked_to_log_in_to_chat(client, make_room):
    room = make_room(live=True)

    response = client.get(room_url(room))

    assert 'id="chat-form"' not in response.text
    assert "Log in to chat" in response.text
    assert f"/accounts/login/?next=/rooms/{room.pk}/" in response.text
    assert 'id="queue-button"' not in response.text


def test_signed_in_buyers_get_the_chat_form_and_queue_button(client, make_room, buyer):
    room = make_room(live=True)
    client.force_login(buyer)

    response = client.get(room_url(room))

    assert 'id="chat-form"' in response.text
    assert 'maxlength="500"' in response.text
    assert "Log in to chat" not in response.text
    assert 'id="queue-button"' in response.text
    assert "Join the queue" in response.text


@pytest.mark.parametrize("who", ["anonymous", "buyer"])
def test_host_controls_are_not_shown_to_viewers(client, make_room, buyer, who):
    room = make_room(live=True)
    if who == "buyer":
        client.force_login(buyer)

    response = client.get(room_url(room))

    assert 'id="spotlight-select"' not in response.text
    assert 'id="queue-admit"' not in response.text
    assert 'id="slow-mode-select"' not in response.text
    assert end_url(room) not in response.text
    assert edit_url(room) not in response.text


def test_the_seller_gets_host_controls_and_show_buttons(seller_client, make_room):
    room = make_room(live=True)

    response = seller_client.get(room_url(room))

    text = response.text
    assert 'id="spotlight-select"' in text and "Silk scarf" in text
    assert 'id="spotlight-clear"' in text
    assert 'id="queue-admit"' in text and "Admit next" in text
    assert 'id="slow-mode-select"' in text
    assert 'id="presence-list"' in text
    assert end_url(room) in text and edit_url(room) in text
    assert 'id="queue-button"' not in text  # the seller admits; they do not queue


def test_moderators_get_host_controls_but_not_the_sellers_buttons(client, make_room, make_user):
    moderator = make_user("molly_mod")
    room = make_room(live=True, moderators=[moderator])
    client.force_login(moderator)

    response = client.get(room_url(room))

    assert response.context["role"] == "moderator"
    assert 'id="spotlight-select"' in response.text
    assert end_url(room) not in response.text
    assert edit_url(room) not in response.text


def test_room_page_shows_the_spotlighted_product(client, make_room, make_product, seller):
    jacket = make_product(name="Denim jacket", stock=4)
    room = make_room(live=True, products=[jacket])
    services.room_spotlight(room=room, actor=seller, product_id=jacket.pk)

    response = client.get(room_url(room))

    spotlight = response.text.split('id="spotlight"')[1].split("</section>")[0]
    assert " hidden" not in spotlight.split(">")[0]
    assert "Denim jacket" in spotlight and "59.00" in spotlight and "4 left" in spotlight


def test_html_in_a_room_title_is_shown_as_text(client, make_room):
    room = make_room(title="<script>alert('x')</script> Deals")

    response = client.get(room_url(room))
    listing = client.get(LIST)

    for page in (response.text, listing.text):
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Deals" in page


@pytest.mark.parametrize("who", ["buyer", "seller"])
def test_ended_room_page_says_so_and_drops_live_only_controls(
    client, ended_room, buyer, seller, who
):
    client.force_login(buyer if who == "buyer" else seller)

    response = client.get(room_url(ended_room))

    assert "This show has ended" in response.text
    assert 'id="room-ended" class="room-ended" role="status">' in response.text
    assert 'id="queue-button"' not in response.text
    assert 'id="spotlight-select"' not in response.text
    assert go_live_url(ended_room) not in response.text
    assert end_url(ended_room) not in response.text


# --- seller pages ------------------------------------------------------------------------


def test_seller_creates_a_room_with_products_and_a_moderator(
    seller_client, seller, form_data, make_user
):
    molly = make_user("molly_mod")
    form_data["moderators"] = "molly_mod, sam_seller"
    form_data["cover_image"] = image_upload("cover.png")

    response = seller_client.post(SELLER_NEW, form_data)

    assert response.status_code == 302
    assert response["Location"] == SELLER_LIST
    room = ShoppingRoom.objects.get()
    assert room.seller == seller
    assert room.title == "Friday fashion hour"
    assert room.status == ShoppingRoom.Status.SCHEDULED
    assert sorted(p.name for p in room.products.all()) == ["Ankle boots", "Silk scarf"]
    assert list(room.moderators.all()) == [molly]  # the seller is not their own moderator
    assert room.cover_image
    assert "“Friday fashion hour” is scheduled." in flashes(response)


def test_create_form_offers_only_the_sellers_products_on_sale(
    seller_client, make_product, other_seller
):
    make_product(name="My scarf")
    make_product(name="My old lamp", is_active=False)
    make_product(name="Olga's vase", seller=other_seller)

    response = seller_client.get(SELLER_NEW)

    assert response.status_code == 200
    assert 'type="datetime-local"' in response.text
    assert "My scarf" in response.text
    assert "My old lamp" not in response.text
    assert "Olga" not in response.text


def test_create_refuses_a_product_of_another_seller(
    seller_client, form_data, make_product, other_seller
):
    vase = make_product(name="Olga's vase", seller=other_seller)
    form_data["products"].append(vase.pk)

    response = seller_client.post(SELLER_NEW, form_data)

    assert response.status_code == 200
    assert response.context["form"].errors["products"]
    assert not ShoppingRoom.objects.exists()


def test_create_names_unknown_moderators_on_their_field(seller_client, form_data, make_user):
    make_user("molly_mod")
    form_data["moderators"] = "molly_mod, nobody_here"

    response = seller_client.post(SELLER_NEW, form_data)

    assert response.status_code == 200
    assert response.context["form"].errors["moderators"] == ["No user is called nobody_here."]
    assert "No user is called nobody_here." in response.text
    assert not ShoppingRoom.objects.exists()


def test_create_needs_a_title_and_a_start_time(seller_client, db):
    response = seller_client.post(SELLER_NEW, {"title": "", "scheduled_start": "soon"})

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"title", "scheduled_start"}
    assert not ShoppingRoom.objects.exists()


def test_seller_edits_their_room(seller_client, make_room, make_product, make_user):
    molly = make_user("molly_mod")
    room = make_room(moderators=[molly])
    boots = make_product(name="Ankle boots")
    start = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)

    page = seller_client.get(edit_url(room))
    assert page.status_code == 200
    assert 'value="molly_mod"' in page.text
    assert 'value="Evening show"' in page.text

    response = seller_client.post(
        edit_url(room),
        {
            "title": "Evening show, part two",
            "description": "",
            "scheduled_start": start.strftime("%Y-%m-%dT%H:%M"),
            "products": [boots.pk],
            "moderators": "",
        },
    )

    assert response.status_code == 302
    room.refresh_from_db()
    assert room.title == "Evening show, part two"
    assert room.scheduled_start == start
    assert [p.name for p in room.products.all()] == ["Ankle boots"]
    assert not room.moderators.exists()


def test_ended_rooms_cannot_be_edited(seller_client, ended_room):
    response = seller_client.get(edit_url(ended_room), follow=True)

    assert response.redirect_chain[-1][0] == SELLER_LIST
    assert "This show has ended; it can no longer be changed." in response.text


def test_seller_goes_live_then_ends_the_show(seller_client, make_room):
    room = make_room()

    response = seller_client.post(go_live_url(room))

    assert response.status_code == 302
    assert response["Location"] == room_url(room)
    room.refresh_from_db()
    assert room.status == ShoppingRoom.Status.LIVE and room.started_at
    assert any("You are live!" in message for message in flashes(response))

    response = seller_client.post(end_url(room))

    assert response["Location"] == SELLER_LIST
    room.refresh_from_db()
    assert room.status == ShoppingRoom.Status.ENDED and room.ended_at
    assert any("has ended" in message for message in flashes(response))


def test_ending_a_scheduled_room_is_refused_with_a_message(seller_client, make_room):
    room = make_room()

    response = seller_client.post(end_url(room), follow=True)

    assert response.redirect_chain[-1][0] == SELLER_LIST
    assert "A scheduled room cannot become ended." in response.text
    room.refresh_from_db()
    assert room.status == ShoppingRoom.Status.SCHEDULED


def test_going_live_twice_is_refused_with_a_message(seller_client, make_room):
    room = make_room(live=True)

    response = seller_client.post(go_live_url(room), follow=True)

    assert "A live room cannot become live." in response.text


def test_go_live_and_end_only_answer_post(seller_client, make_room):
    room = make_room()

    assert seller_client.get(go_live_url(room)).status_code == 405
    assert seller_client.get(end_url(room)).status_code == 405
    room.refresh_from_db()
    assert room.status == ShoppingRoom.Status.SCHEDULED


@pytest.mark.parametrize(
    "method, url",
    [("get", edit_url), ("post", edit_url), ("post", go_live_url), ("post", end_url)],
)
def test_another_sellers_room_is_not_found_on_seller_pages(
    client, make_room, other_seller, method, url
):
    room = make_room(title="Sam's show")
    client.force_login(other_seller)

    response = getattr(client, method)(url(room), {"title": "Hijacked"})

    assert response.status_code == 404
    room.refresh_from_db()
    assert room.title == "Sam's show"
    assert room.status == ShoppingRoom.Status.SCHEDULED


def test_seller_rooms_lists_own_rooms_with_fitting_actions(
    seller_client, make_room, ended_room, make_product, other_seller
):
    scheduled = make_room(title="Planned show")
    live = make_room(title="Running show", live=True)
    make_room(
        title="Olga's show",
        seller_user=other_seller,
        products=[make_product(seller=other_seller)],
    )

    response = seller_client.get(SELLER_LIST)

    assert response.status_code == 200
    titles = {room.title for room in response.context["page"].object_list}
    assert titles == {"Planned show", "Running show", "Last week's show"}
    text = response.text
    assert go_live_url(scheduled) in text and end_url(scheduled) not in text
    assert end_url(live) in text and go_live_url(live) not in text
    assert edit_url(ended_room) not in text
    assert room_url(ended_room) in text
    assert "Peak viewers" in text and "Chat messages" in text


@pytest.mark.parametrize(
    "url", [SELLER_LIST, SELLER_NEW, "/seller/rooms/1/edit/", "/seller/rooms/1/go-live/"]
)
def test_anonymous_visitors_are_sent_to_login_from_seller_pages(client, db, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", [SELLER_LIST, SELLER_NEW])
def test_buyers_are_offered_to_open_a_shop(client, buyer, url):
    client.force_login(buyer)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/become-seller/"


# --- home and navigation -----------------------------------------------------------------


def test_home_shows_live_rooms_above_upcoming_rooms_and_featured_products(
    client, make_room, make_product
):
    make_product(name="Velvet blazer")
    make_room(title="Morning show", scheduled_start=in_hours(5))
    room = make_room(title="On air now", live=True)
    async_to_sync(get_store().viewer_join)(str(room.pk), "user:1")

    response = client.get("/")

    assert response.status_code == 200
    assert [r.title for r in response.context["live_rooms"]] == ["On air now"]
    places = position(
        response.text, "1 watching", "On air now", "Morning show", "Featured products"
    )
    assert places == sorted(places)
    assert "Velvet blazer" in response.text


def test_home_without_rooms_still_shows_featured_products(client, make_product):
    make_product(name="Velvet blazer")

    response = client.get("/")

    assert "Live now" not in response.text
    assert "Velvet blazer" in response.text


def test_navigation_links_rooms_for_everyone_and_my_rooms_for_sellers(client, seller, buyer):
    assert 'href="/rooms/"' in client.get("/").text
    client.force_login(buyer)
    assert 'href="/seller/rooms/"' not in client.get("/").text
    client.force_login(seller)
    assert 'href="/seller/rooms/"' in client.get("/").text
