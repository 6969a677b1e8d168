"""Unique viewers are the people who watched the show: the room socket records them only
while the room is live (someone waiting on the page before the show counts once it starts,
someone opening the page after it ended never counts), and the saved count keeps up with the
store even when the live viewer count did not change."""

import pytest
from asgiref.sync import sync_to_async

from rooms import consumers
from rooms import services as room_services
from rooms.models import ShoppingRoom
from rooms.store import get_store

pytest_plugins = ["rooms.tests.socket_helpers"]
pytestmark = pytest.mark.django_db(transaction=True)


def anonymous_browser(number: int) -> str:
    return "csrftoken=" + f"{number:02x}" * 16


async def test_only_people_watching_while_the_room_is_live_are_unique_viewers(
    make_user, seller, jacket, make_room, open_socket, eventually
):
    room = await sync_to_async(make_room)(products=[jacket], live=False)
    early, during, late = [
        await sync_to_async(make_user)(name) for name in ("early", "during", "late")
    ]
    room_id = str(room.pk)
    store = get_store()

    # Waiting on the page before the show: not (yet) viewers. The host never is one.
    host = await open_socket(room, seller)
    early_socket = await open_socket(room, early)
    waiting_browser = await open_socket(room, label="waiting", cookies=anonymous_browser(1))
    assert await store.viewers_seen([room_id]) == [0]

    # The show starts: everyone already on the page becomes a viewer.
    await sync_to_async(room_services.room_go_live)(room=room, actor=seller)
    for socket in (host, early_socket, waiting_browser):
        await socket.expect("room-status", status="live")
    await open_socket(room, during)

    def unique_saved(expected: int):
        return ShoppingRoom.objects.get(pk=room.pk).unique_viewers == expected

    assert await eventually(lambda: unique_saved(3)), "the 3 viewers of the show were not saved"
    assert await store.viewers_seen([room_id]) == [3]

    # After the show: people opening its page are not viewers of it.
    await sync_to_async(room_services.room_end)(room=room, actor=seller)
    await early_socket.expect("room-status", status="ended")
    await open_socket(room, late)
    for number in (2, 3, 4):
        await open_socket(room, label=f"after {number}", cookies=anonymous_browser(number))
    await host.disconnect()
    await open_socket(room, seller, label="host again")

    assert await store.viewers_seen([room_id]) == [3]
    assert await sync_to_async(unique_saved)(3)


async def test_the_saved_unique_count_catches_up_when_the_live_count_stays_the_same(
    jacket, make_room, monkeypatch
):
    """One viewer leaves and another arrives between two announcements: the live count is
    unchanged, but there is one more unique viewer and it must be saved."""
    monkeypatch.setattr(consumers, "VIEWER_COUNT_INTERVAL", 0.01)
    room = await sync_to_async(make_room)(products=[jacket])
    room_id = str(room.pk)
    store = get_store()

    await store.viewer_join(room_id, "user:first")
    await store.viewer_seen(room_id, "user:first")
    await consumers.announce_viewer_count(room_id)
    # The first leaves and the second arrives before the next announcement.
    await store.viewer_leave(room_id, "user:first")
    await store.viewer_join(room_id, "user:second")
    await store.viewer_seen(room_id, "user:second")
    await consumers.announce_viewer_count(room_id)

    saved = await sync_to_async(ShoppingRoom.objects.get)(pk=room.pk)
    assert (saved.peak_viewers, saved.unique_viewers) == (1, 2)
