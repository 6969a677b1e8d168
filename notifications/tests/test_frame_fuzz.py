"""Hypothesis frames on the notification socket (issue 9): the server speaks, the client
listens, so whatever a client sends (rooms/tests/frame_strategies.py's room frames, any
text, any bytes, deep nesting, megabytes) gets exactly one {"type": "error", "code":
"unknown_type", "message"} (docs/realtime.md) and changes nothing; the socket keeps
answering and still gets its pushes. The one frame it reads, `renew-token`, gets its own
refusal (`not_token_socket` on this website socket: `fs.notification_code`).
tests/test_socket_fuzz_server.py sends the same over a real server."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from liveshop.asgi import application
from notifications.models import Notification
from rooms import services as room_services
from rooms.tests import frame_strategies as fs
from rooms.tests.conftest import session_cookie_for
from rooms.tests.frame_strategies import Frame

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3.0
ERROR_CODES = fs.documented_error_codes()

frames = st.one_of(
    fs.room_frames,
    st.builds(lambda t: Frame("text", t, "any"), st.text(fs.nasty_chars)),
    st.builds(lambda b: Frame("bytes", b, "any"), st.binary()),
    st.sampled_from(
        [Frame("text", json.dumps({"type": t}), "any") for t in ("mark-read", "unread-count")]
    ),
)


@pytest.fixture
async def listening(buyer):
    """A signed-in user's notification socket, past its first unread-count."""
    cookie = await sync_to_async(session_cookie_for)(buyer)
    communicator = WebsocketCommunicator(
        application,
        "/ws/notifications/",
        headers=[(b"origin", b"http://testserver"), (b"cookie", cookie)],
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    assert json.loads(await communicator.receive_from(TIMEOUT)) == {
        "type": "unread-count",
        "count": 0,
    }
    yield communicator
    await communicator.disconnect(timeout=TIMEOUT)


async def send(communicator, frame: Frame) -> None:
    key = "bytes" if frame.kind == "bytes" else "text"
    await communicator.send_input({"type": "websocket.receive", key: frame.data})


async def one_error(communicator, frame: Frame) -> None:
    output = await communicator.receive_output(TIMEOUT)
    assert output["type"] == "websocket.send" and output.get("bytes") is None, (frame, output)
    error = json.loads(output["text"])
    assert set(error) == {"type", "code", "message"}, (frame, error)
    expected = fs.notification_code(frame, token_socket=False)  # a session socket
    assert error["type"] == "error" and error["code"] == expected, (frame, error)
    assert error["code"] in ERROR_CODES and isinstance(error["message"], str), error
    assert await communicator.receive_nothing(timeout=0.01), f"more than one answer: {frame!r}"


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one socket across examples, on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)
@given(frame=frames)
@example(frame=fs.deep(10_000, "list"))
@example(frame=fs.sized(2 * 1024 * 1024, "€", "chat line"))
@example(frame=Frame("bytes", b"\xff" * (2 * 1024 * 1024), "any"))
@example(frame=Frame("text", '{"type": "mark-read", "ids": ["\ud800"]}', "any"))
@example(frame=Frame("text", '{"type": "renew-token", "token": "a.b.c"}', "refused"))
@example(
    frame=Frame(
        "text", '{"type": "renew-token", "token": ' + "[" * 5000 + "]" * 5000 + "}", "refused"
    )
)
async def test_any_frame_gets_exactly_one_error_and_the_socket_lives_on(listening, frame):
    await send(listening, frame)
    await one_error(listening, frame)
    assert not listening.future.done(), "the consumer stopped"


async def test_pushes_still_arrive_after_garbage(listening, buyer, upcoming_room, remind):
    room = upcoming_room
    await sync_to_async(remind)(buyer, room)
    for frame in [
        Frame("text", "{", "parse"),
        Frame("bytes", b"\x00" * 10, "parse"),
        fs.deep(10_000, "list"),
        Frame("text", '{"type": "mark-read", "id": 1}', "any"),
        Frame("text", '{"type": "renew-token", "token": 7}', "refused"),
    ] * 5:  # more than the room socket's ten malformed frames: this socket does not count
        await send(listening, frame)
        await one_error(listening, frame)
    await sync_to_async(room_services.room_go_live)(room=room, actor=room.seller)
    pushed = json.loads(await listening.receive_from(TIMEOUT))
    assert pushed["type"] == "notification"
    assert json.loads(await listening.receive_from(TIMEOUT)) == {"type": "unread-count", "count": 1}
    # Nothing the client sent was taken for a request: the one notification is unread.
    assert await sync_to_async(Notification.objects.filter(user=buyer, read_at=None).count)() == 1
