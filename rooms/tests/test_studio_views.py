"""The seller's studio page (camera, go live, chat, spotlight, stream health) and the room
page's video player, as the server renders them. What the scripts do with them is tested in
a real browser by tests/test_browser_video.py."""

import json

import pytest

from rooms import services


def studio_url(room) -> str:
    return f"/seller/rooms/{room.pk}/studio/"


def room_url(room) -> str:
    return f"/rooms/{room.pk}/"


def json_script(text: str, element_id: str):
    """The value a `json_script` tag put in the page."""
    start = text.index(f'<script id="{element_id}" type="application/json">')
    body = text[start:].split(">", 1)[1].split("</script>", 1)[0]
    return json.loads(body)


@pytest.fixture
def seller_client(client, seller):
    client.force_login(seller)
    return client


ICE = [{"urls": ["turn:turn.example.test:3478"], "username": "u", "credential": "p"}]


# --- the studio ----------------------------------------------------------------------------


@pytest.mark.parametrize("live", [False, True])
def test_seller_gets_the_studio_of_their_room(seller_client, make_room, live):
    room = make_room(live=live, title="Hat hour")

    response = seller_client.get(studio_url(room))

    assert response.status_code == 200
    text = response.text
    assert "Hat hour" in text
    assert f'data-room-id="{room.pk}"' in text and 'data-role="seller"' in text
    # camera preview, device choice, going live and ending
    assert '<video id="studio-preview"' in text and "playsinline" in text
    assert 'id="camera-select"' in text and 'id="microphone-select"' in text
    assert '<label for="camera-select">Camera</label>' in text
    assert '<label for="microphone-select">Microphone</label>' in text
    assert 'id="go-live"' in text and "Go live" in text
    end_form = text.split(f'action="/seller/rooms/{room.pk}/end/"')[1].split("</form>")[0]
    assert "End show" in end_form and "csrfmiddlewaretoken" in end_form
    assert "data-confirm=" in text.split(f'action="/seller/rooms/{room.pk}/end/"')[1][:200]
    # chat, viewer count, spotlight controls and health, run by the shared scripts
    assert 'id="chat-log" class="chat__log" role="log" aria-live="polite"' in text
    assert 'id="chat-input"' in text
    assert 'id="viewer-count"' in text
    assert 'id="spotlight-select"' in text and "Silk scarf" in text
    assert 'id="stream-status"' in text
    assert 'id="health-bitrate"' in text and 'id="health-loss"' in text
    assert 'id="health-rtt"' in text
    assert 'type="module" src="/static/js/studio.js"' in text
    strings = json_script(text, "room-i18n")
    assert strings["publish_connected"] and strings["chat_empty"]


def test_studio_offers_end_show_only_once_live(seller_client, make_room):
    scheduled = make_room(title="Later")
    live = make_room(title="Now", live=True)

    scheduled_page = seller_client.get(studio_url(scheduled)).text
    live_page = seller_client.get(studio_url(live)).text

    def end_form_tag(text: str, room) -> str:
        return text.split(f'action="/seller/rooms/{room.pk}/end/"')[1].split(">")[0]

    # room.js shows the form when the room goes live; until then it is rendered hidden.
    assert " hidden" in end_form_tag(scheduled_page, scheduled)
    assert " hidden" not in end_form_tag(live_page, live)


def test_studio_page_carries_the_ice_servers(seller_client, make_room, settings):
    settings.ICE_SERVERS = ICE
    room = make_room()

    response = seller_client.get(studio_url(room))

    assert json_script(response.text, "ice-servers") == ICE


def test_studio_page_has_an_empty_ice_server_list_by_default(seller_client, make_room, settings):
    settings.ICE_SERVERS = []
    room = make_room()

    assert json_script(seller_client.get(studio_url(room)).text, "ice-servers") == []


def test_studio_of_an_ended_show_says_so_and_links_back(seller_client, make_room, seller):
    room = make_room(live=True, title="Last week's show")
    services.room_end(room=room, actor=seller)

    response = seller_client.get(studio_url(room))

    assert response.status_code == 200
    text = response.text
    assert "This show has ended" in text
    assert 'href="/seller/rooms/"' in text and "Back to my rooms" in text
    assert 'id="go-live"' not in text and "studio.js" not in text
    assert f'action="/seller/rooms/{room.pk}/end/"' not in text


def test_another_sellers_studio_is_not_found(client, make_room, other_seller):
    room = make_room(title="Sam's show")
    client.force_login(other_seller)

    assert client.get(studio_url(room)).status_code == 404


def test_unknown_room_has_no_studio(seller_client, db):
    assert seller_client.get("/seller/rooms/987654/studio/").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in_from_the_studio(client, make_room):
    room = make_room()

    response = client.get(studio_url(room))

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={studio_url(room)}"


def test_buyers_are_offered_to_open_a_shop_instead_of_the_studio(client, make_room, buyer):
    room = make_room()
    client.force_login(buyer)

    response = client.get(studio_url(room))

    assert response.status_code == 302
    assert response["Location"] == "/accounts/become-seller/"


def test_studio_only_answers_get(seller_client, make_room):
    room = make_room()

    assert seller_client.post(studio_url(room)).status_code == 405


def test_seller_rooms_link_the_studio_of_shows_not_ended(seller_client, make_room, seller):
    planned = make_room(title="Planned")
    running = make_room(title="Running", live=True)
    over = make_room(title="Over", live=True)
    services.room_end(room=over, actor=seller)

    text = seller_client.get("/seller/rooms/").text

    assert studio_url(planned) in text and studio_url(running) in text
    assert studio_url(over) not in text


def test_the_room_page_links_the_studio_for_its_seller_only(
    client, seller_client, make_room, buyer
):
    room = make_room(live=True)

    assert studio_url(room) in seller_client.get(room_url(room)).text
    client.force_login(buyer)
    assert studio_url(room) not in client.get(room_url(room)).text


# --- the room page's player ----------------------------------------------------------------


@pytest.mark.parametrize("live", [False, True])
def test_room_page_has_a_muted_inline_video_and_an_unmute_button(client, make_room, live):
    room = make_room(live=live)

    text = client.get(room_url(room)).text

    video = text.split('<video id="live-video"')[1].split(">")[0]
    for attribute in ("playsinline", "autoplay", "muted", "aria-label="):
        assert attribute in video
    assert '<button id="video-unmute" type="button"' in text
    assert '<span id="video-unmute-label">Unmute</span>' in text
    assert 'id="video-overlay" class="room-video__overlay" aria-live="polite"' in text
    strings = json_script(text, "room-i18n")
    assert strings["video_unmute"] == "Unmute" and strings["video_mute"] == "Mute"
    assert strings["video_interrupted"] == "Reconnecting…"


def test_room_page_overlay_starts_from_the_room_status(client, make_room, seller):
    scheduled = make_room(title="Soon")
    ended = make_room(title="Done", live=True)
    services.room_end(room=ended, actor=seller)

    soon = client.get(room_url(scheduled)).text
    over = client.get(room_url(ended)).text

    assert 'data-video-state="waiting"' in soon and "The show starts soon" in soon
    assert 'data-video-state="ended"' in over and "This show has ended" in over
    unmute = over.split('<button id="video-unmute"')[1].split(">")[0]
    assert " hidden" in unmute  # nothing to hear in an ended show


def test_room_page_carries_the_ice_servers(client, make_room, settings):
    settings.ICE_SERVERS = ICE
    room = make_room(live=True)

    assert json_script(client.get(room_url(room)).text, "ice-servers") == ICE
