"""Room bans outlive the room store: the database holds them (rooms.models.RoomBan), and the
store's ban sets are a cache reloaded from it when Redis lost its data (or the embedded store's
process restarted). Staff lift bans in Django admin, in the database and the store at once."""

import uuid

import pytest
import redis.asyncio
from asgiref.sync import sync_to_async

from conftest import private_redis_server
from rooms import services
from rooms.models import RoomBan
from rooms.store import MemoryRoomStore, RedisRoomStore, get_store
from rooms.tests import test_consumer_actions, test_store

pytest_plugins = ["rooms.tests.socket_helpers"]

# Fixtures borrowed from the other room tests: a live room with products, people, the two
# stores of the store contract (without a ban source: the tests below give them one).
products = test_consumer_actions.products
live_room = test_consumer_actions.live_room
shopper = test_consumer_actions.shopper
staff = test_consumer_actions.staff
store = test_store.store

ROOM = test_store.ROOM


def chat_refusal(error: dict) -> dict:
    """What the banned user sees of a refused chat line."""
    return {"code": error["code"], "message": error["message"]}


@pytest.fixture
async def private_redis(settings, monkeypatch):
    """The Redis channel layer and room store on a redis-server of this test's own: the test
    flushes all of it, as a Redis that restarted without persistence would be."""
    # Imported here, once pytest_plugins loaded it: pytest rewrites its asserts only then.
    from rooms.tests.socket_helpers import redis_everywhere

    with private_redis_server() as (url, _process):
        async with redis_everywhere(settings, url, monkeypatch) as redis_store:
            yield redis_store


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


async def lift_ban_in_admin(admin_client, ban: RoomBan) -> None:
    """Staff open the ban in Django admin and confirm its deletion."""
    url = f"/admin/rooms/roomban/{ban.pk}/delete/"
    page = await sync_to_async(admin_client.get)(url)
    assert page.status_code == 200
    response = await sync_to_async(admin_client.post)(url, {"post": "yes"})
    assert response.status_code == 302, response.content[:500]


# --- the store: a cache of the bans' record -----------------------------------------------


@pytest.fixture
def recorded(store):
    """Bans recorded for good, as the database would hold them: {room: {user ids}}; the
    store loads them from here when it does not hold a room's bans."""
    bans: dict[str, set[str]] = {}

    async def source(room_id: str) -> list[str]:
        return sorted(bans.get(room_id, ()))

    store.bans_source = source
    return bans


async def forget_everything(store) -> None:
    """What a Redis that lost its data (or a restarted process) leaves of the store."""
    await store.clear()


async def post(store, user_id: int) -> tuple[str, int]:
    message = {"type": "chat-message", "id": f"m{user_id}", "text": "hello"}
    return await store.chat_post(ROOM, user_id, message, limit=5, window=10.0, staff=False)


async def test_a_store_that_lost_its_bans_loads_them_again_before_answering(store, recorded):
    recorded[ROOM] = {"7"}
    await store.ban(ROOM, 7)
    await forget_everything(store)
    # The first question after the loss, whichever it is, finds the ban.
    assert await post(store, 7) == ("banned", 0)
    assert await post(store, 8) == ("ok", 0)
    await forget_everything(store)
    assert await store.is_banned(ROOM, 7) is True
    assert await store.is_banned(ROOM, 8) is False
    assert await store.is_banned(test_store.OTHER_ROOM, 7) is False
    await forget_everything(store)
    recorded[ROOM].add("9")
    await store.ban(ROOM, 9)  # a ban that comes first after the loss brings the others back
    assert await store.is_banned(ROOM, 7) is True
    assert await store.is_banned(ROOM, 9) is True


async def test_a_lifted_ban_is_gone_from_the_store_and_stays_gone_after_a_loss(store, recorded):
    recorded[ROOM] = {"7", "8"}
    await store.ban(ROOM, 7)
    await store.ban(ROOM, 8)
    recorded[ROOM].discard("7")
    await store.unban(ROOM, 7)
    assert await post(store, 7) == ("ok", 0)
    await forget_everything(store)
    assert await store.is_banned(ROOM, 7) is False
    assert await store.is_banned(ROOM, 8) is True
    recorded[ROOM].clear()
    await store.unban(ROOM, 8)
    assert await post(store, 8) == ("ok", 0)


async def test_a_ban_lifted_while_the_bans_load_is_not_brought_back(store, recorded):
    """A load that read a ban lifted before the load was kept would ban that user again."""
    recorded[ROOM] = {"7"}
    read_before_the_lift = store.bans_source
    loads = []

    async def slow_source(room_id: str) -> list[str]:
        banned = await read_before_the_lift(room_id)
        if not loads:  # the ban is lifted after the first load read it
            recorded[ROOM].discard("7")
            await store.unban(ROOM, 7)
        loads.append(banned)
        return banned

    store.bans_source = slow_source
    assert await store.is_banned(ROOM, 7) is False
    assert loads == [["7"], []]  # the first load was thrown away, the second one kept


@pytest.mark.redis
async def test_a_chat_line_is_one_redis_round_trip_once_the_bans_are_loaded(redis_url, monkeypatch):
    """The ban check rides in chat_post's one script; the database is read once per room."""
    loads = []

    async def source(room_id: str) -> list[str]:
        loads.append(room_id)
        return ["7"]

    sent = []  # what went to Redis: a round trip each (a pipeline is one too)
    send = redis.asyncio.Connection.send_packed_command

    async def counted(connection, command, *args, **kwargs):
        sent.append(command)
        return await send(connection, command, *args, **kwargs)

    monkeypatch.setattr(redis.asyncio.Connection, "send_packed_command", counted)
    redis_store = RedisRoomStore(redis_url, prefix=f"test-bans:{uuid.uuid4().hex}")
    redis_store.bans_source = source
    try:
        assert await post(redis_store, 8) == ("ok", 0)  # the first line loads the room's bans
        assert len(loads) == 1
        sent.clear()
        assert [await post(redis_store, user_id) for user_id in (9, 7)] == [
            ("ok", 0),
            ("banned", 0),
        ]
        assert len(sent) == 2
        assert loads == [ROOM]
    finally:
        await redis_store.clear()
        await redis_store.redis.aclose()


# --- the room socket, with Redis losing its data ------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_a_ban_outlives_a_redis_that_lost_its_data(
    private_redis, live_room, seller, buyer, shopper, open_socket, refused
):
    seller_socket = await open_socket(live_room, seller)
    spammer = await open_socket(live_room, buyer)
    await seller_socket.send({"type": "ban-user", "user_id": buyer.pk})
    await spammer.expect_error("banned")
    assert await spammer.expect_close() == 4403
    await seller_socket.expect("user-banned")

    await private_redis.redis.flushall()
    assert await private_redis.redis.dbsize() == 0

    # Reconnecting is still refused at the handshake, whichever way the spammer signs in.
    assert await refused(live_room, buyer)
    assert await refused(live_room, buyer, via="session")
    # Everyone else comes in and chats.
    shopper_socket = await open_socket(live_room, shopper)
    await shopper_socket.chat("still here")
    await seller_socket.expect("chat-message", text="still here")


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_a_banned_users_open_socket_still_cannot_chat_after_redis_lost_the_ban(
    private_redis, live_room, seller, buyer, shopper, open_socket
):
    """A socket that missed its kick (Redis went away as the ban was made) stays open, and its
    chat lines are refused with the same error before and after Redis lost its data."""
    spammer = await open_socket(live_room, buyer)
    shopper_socket = await open_socket(live_room, shopper)
    # The ban as the ban-user frame records it, without the kick it sends afterwards.
    await sync_to_async(services.room_ban)(room=live_room, actor=seller, user_id=buyer.pk)
    await spammer.send({"type": "chat-message", "text": "BUY FOLLOWERS"})
    before = chat_refusal(await spammer.expect_error("banned"))

    await private_redis.redis.flushall()

    await spammer.send({"type": "chat-message", "text": "BUY FOLLOWERS again"})
    assert chat_refusal(await spammer.expect_error("banned")) == before
    await shopper_socket.chat("is the scarf silk?")
    await shopper_socket.nothing("chat-message")  # nothing of the spammer's went out...
    assert [line["text"] for line in await private_redis.chat_recent(str(live_room.pk))] == [
        "is the scarf silk?"  # ...nor into the history late joiners get
    ]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_staff_lift_a_ban_in_admin_and_the_user_chats_again(
    private_redis, live_room, seller, buyer, open_socket, refused, admin_client
):
    seller_socket = await open_socket(live_room, seller)
    await seller_socket.send({"type": "ban-user", "user_id": buyer.pk})
    await seller_socket.expect("user-banned")
    assert await refused(live_room, buyer)
    ban = await RoomBan.objects.select_related("banned_by").aget(room=live_room, user=buyer)
    assert ban.banned_by == seller

    listing = await sync_to_async(admin_client.get)("/admin/rooms/roomban/")
    assert buyer.username in listing.text and live_room.title in listing.text
    await lift_ban_in_admin(admin_client, ban)

    assert not await RoomBan.objects.filter(room=live_room).aexists()
    back = await open_socket(live_room, buyer)
    await back.chat("sorry about that")
    await seller_socket.expect("chat-message", text="sorry about that")
    # And it stays lifted when Redis loses its data.
    await private_redis.redis.flushall()
    await back.chat("still sorry")


# --- the embedded default: the in-memory store ---------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_bans_outlive_a_restart_of_the_embedded_store_and_admin_lifts_them(
    live_room, seller, buyer, shopper, open_socket, refused, admin_client
):
    memory_store = get_store()
    assert isinstance(memory_store, MemoryRoomStore)
    seller_socket = await open_socket(live_room, seller)
    await seller_socket.send({"type": "ban-user", "user_id": buyer.pk})
    await seller_socket.expect("user-banned")

    await memory_store.clear()  # all a restarted process has of the room

    assert await refused(live_room, buyer)
    shopper_socket = await open_socket(live_room, shopper)
    await shopper_socket.chat("still here")

    # Staff lift it with the changelist's "Delete selected" action.
    ban = await RoomBan.objects.aget(room=live_room, user=buyer)
    response = await sync_to_async(admin_client.post)(
        "/admin/rooms/roomban/",
        {"action": "delete_selected", "_selected_action": [ban.pk], "post": "yes"},
    )
    assert response.status_code == 302
    back = await open_socket(live_room, buyer)
    await back.chat("sorry about that")
    await shopper_socket.expect("chat-message", text="sorry about that")


@pytest.mark.django_db(transaction=True)
async def test_banning_someone_who_does_not_exist_is_refused(live_room, seller, open_socket):
    seller_socket = await open_socket(live_room, seller)
    await seller_socket.send({"type": "ban-user", "user_id": 987654})
    await seller_socket.expect_error("invalid")
    await seller_socket.nothing("user-banned")
    assert not await RoomBan.objects.aexists()
