"""Hypothesis frames against the production server (issue 9): a real uvicorn process
(liveshop/serve.py: ws_max_size 1 MiB), the `websockets` client, the room socket and the
notification socket. The server stays up and logs no exception; each frame gets the error
docs/realtime.md documents, or a defined close: 4400 (the tenth malformed frame, the
consumer's), 1009 (a message over 1 MiB: uvicorn cuts it before the application sees it) or
1007 (a text frame that is not UTF-8, e.g. a lone surrogate: the protocol layer's); after a
close a fresh socket works. rooms/tests/test_frame_fuzz.py does the same in process, with
more frames and the room's state checked.
"""

import json
import os
import re
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from rooms.consumers import CLOSE_MALFORMED, MAX_BAD_FRAMES
from rooms.tests import frame_strategies as fs
from rooms.tests.frame_strategies import Frame
from tests.helpers import WebServer, manage, run_script, site_env

WS_MAX_SIZE = 1024 * 1024  # liveshop/serve.py
CLOSE_TOO_BIG = 1009  # uvicorn (websockets): "message too big"
CLOSE_NOT_UTF8 = 1007  # the WebSocket protocol: invalid frame payload data
ERROR_CODES = fs.documented_error_codes()
ROLES = ("seller", "viewer", "anonymous")
TIMEOUT = 10.0
ORIGIN = "http://localhost"
LEVEL = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL):")

# A longer hunt, fresh random frames each run (rooms/tests/test_frame_fuzz.py has the same):
# FRAME_FUZZ_SERVER_EXAMPLES=3000 FRAME_FUZZ_RANDOM=1 pytest tests/test_socket_fuzz_server.py
ROOM_EXAMPLES = int(os.environ.get("FRAME_FUZZ_SERVER_EXAMPLES", 200))  # x3 senders: ~6 s
SERVER_SETTINGS = settings(
    deadline=None,
    derandomize=os.environ.get("FRAME_FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)


class LoggedServer(WebServer):
    """The production server, its output kept in a file: an exception in it fails a test."""

    def records(self) -> list[str]:
        """The server's log records (a record's traceback is part of it)."""
        records: list[str] = []
        for line in self.log.read_text(errors="replace").splitlines():
            if LEVEL.match(line) or not records:
                records.append(line)
            else:
                records[-1] += "\n" + line
        return records

    def problems(self) -> list[str]:
        """Records that tell of an error. A text frame that is not UTF-8 is none: uvicorn
        closes that socket with 1007 and logs the client's mistake as one INFO line
        (liveshop/serve.py; it used to be an ERROR with a traceback per frame)."""
        return [record for record in self.records() if not record.startswith(("INFO:", "DEBUG:"))]


@dataclass
class Site:
    server: LoggedServer
    ids: dict

    @property
    def ws_base(self) -> str:
        return self.server.base_url.replace("http://", "ws://")

    def check_healthy(self) -> None:
        assert self.server.process.poll() is None, "the server process died"
        assert not self.server.problems(), "\n".join(self.server.problems()[-20:])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("socket-fuzz")
    env = site_env(folder)
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    scenario = run_script("tests/live_room_scenario.py", env=env)
    assert scenario.returncode == 0, scenario.stderr
    ids = json.loads(scenario.stdout.strip().splitlines()[-1])
    server = LoggedServer(env, log=folder / "server.log")
    server.start()
    try:
        yield Site(server, ids)
    finally:
        server.stop()


class RealSocket:
    """One socket to the real server, read with a timeout; remembers the close code."""

    def __init__(self, url: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.connecting = connect(
            url,
            additional_headers=headers,
            origin=None if token else ORIGIN,
            max_size=None,
            open_timeout=TIMEOUT,
            close_timeout=2,
        )
        self.ws: ClientConnection = self.connecting.__enter__()
        self.close_code: int | None = None

    def send(self, frame: Frame) -> None:
        try:
            if frame.kind == "bytes":
                self.ws.send(frame.data)
            elif fs.wire_safe(frame):
                self.ws.send(frame.data)
            else:  # a lone surrogate: sent as the bytes a careless client would write
                self.ws.send(frame.data.encode("utf-8", "surrogatepass"), text=True)
        except ConnectionClosed as closed:  # the server closed while we were writing
            self.close_code = closed.rcvd.code if closed.rcvd else None

    def send_json(self, obj: dict) -> None:
        self.ws.send(json.dumps(obj))

    def read(self) -> dict:
        """The next message; {"type": "closed", "code": ...} once the server closed."""
        if self.close_code is not None:
            return {"type": "closed", "code": self.close_code}
        try:
            data = self.ws.recv(timeout=TIMEOUT)
        except ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd else None
            return {"type": "closed", "code": self.close_code}
        assert isinstance(data, str), f"the server sent a binary frame: {data[:100]!r}"
        message = json.loads(data)
        assert isinstance(message, dict) and isinstance(message.get("type"), str), message
        return message

    def answer(self) -> dict:
        """The next answer to this socket's own frames (an error, a room-state) or its
        close, skipping the room's broadcasts meanwhile (viewer counts, chat)."""
        while (message := self.read())["type"] not in ("error", "room-state", "closed"):
            pass
        return message

    def close(self) -> None:
        self.connecting.__exit__(None, None, None)


def check_error(error: dict, context) -> None:
    assert set(error) == {"type", "code", "message"}, (context, error)
    assert error["code"] in ERROR_CODES and error["code"] != "server_error", (context, error)
    assert isinstance(error["message"], str) and error["message"], (context, error)


class Room:
    """The scenario's live room, one socket per role (reopened after a close)."""

    def __init__(self, site: Site):
        self.site = site
        self.url = f"{site.ws_base}/ws/rooms/{site.ids['room']}/"
        self.tokens = {"seller": site.ids["seller"], "viewer": site.ids["buyer"], "anonymous": None}
        self.sockets: dict[str, RealSocket] = {}
        self.malformed = dict.fromkeys(ROLES, 0)
        self.markers = 0
        self.resyncs = 0  # join-rooms answered with a room-state

    def open(self, role: str) -> RealSocket:
        socket = self.sockets[role] = RealSocket(self.url, self.tokens[role])
        assert socket.read()["type"] == "room-state"
        self.malformed[role] = 0
        return socket

    def close_all(self) -> None:
        for socket in self.sockets.values():
            socket.close()

    def expected_close(self, role: str, frame: Frame) -> int | None:
        if frame.size > WS_MAX_SIZE:
            return CLOSE_TOO_BIG
        if not fs.wire_safe(frame):
            return CLOSE_NOT_UTF8
        if fs.verdict(frame) in fs.MALFORMED:
            self.malformed[role] += 1
            if self.malformed[role] >= MAX_BAD_FRAMES:
                return CLOSE_MALFORMED
        return None

    def answer(self, role: str, frame: Frame) -> list[dict]:
        """Send `frame` as `role`; the errors it got (see the in-process twin,
        rooms/tests/test_frame_fuzz.py: Room.answer)."""
        socket = self.sockets[role]
        closing = self.expected_close(role, frame)
        socket.send(frame)
        if closing is None:
            self.markers += 1
            marker = f"marker-{self.markers}"
            socket.send_json({"type": "join-room"})
            socket.send_json({"type": marker})
        window: list[dict] = []
        while True:
            message = socket.read()
            window.append(message)
            if message["type"] == "closed":
                break
            if closing is None and message["type"] == "error" and marker in message["message"]:
                break
        closes = [m["code"] for m in window if m["type"] == "closed"]
        if closing is not None:
            assert closes == [closing], (role, frame, window[-5:])
            event(f"close {closing}")
            socket.close()
            self.open(role)
            return [m for m in window if m["type"] == "error"]
        assert not closes, (role, frame, window[-5:])
        # The answers (errors, room-states) in order: the frame's, the join-room's, the
        # marker's. The server's join-room has its rate limit (a resync storm costs it a
        # room-state each), so that answer is a room-state or a `rate_limited` error.
        answers = [m for m in window if m["type"] in ("error", "room-state")]
        assert answers[-1]["type"] == "error" and marker in answers[-1]["message"]
        resync = answers[-2]
        if resync["type"] == "room-state":
            self.resyncs += 1
        else:
            assert resync["code"] == "rate_limited", (role, frame, window[-5:])
        return [m for m in answers[:-2] if m["type"] == "error"]


@pytest.fixture
def room(site):
    room = Room(site)
    for role in ROLES:
        room.open(role)
    yield room
    room.close_all()
    assert room.resyncs, "no join-room was answered with a room-state"


@settings(SERVER_SETTINGS, max_examples=ROOM_EXAMPLES)
@given(frame=fs.room_frames)
@example(frame=fs.sized(64 * 1024 + 1, "€", "chat line"))
@example(frame=fs.sized(WS_MAX_SIZE + 1, "x", "chat line"))
@example(frame=Frame("bytes", b"\x00" * (WS_MAX_SIZE + 1), "parse"))
@example(frame=fs.deep(10_000, "list"))
@example(frame=fs.deep(3000, "object"))
@example(frame=Frame("text", '{"type": "chat-message", "text": "\ud800"}', "refused"))
@example(frame=Frame("text", '{"type": "webrtc-offer", "role": [], "sdp": null}', "refused"))
def test_the_real_server_answers_any_room_frame_and_stays_up(site, room, frame):
    verdict = fs.verdict(frame)
    for role in ROLES:
        errors = room.answer(role, frame)
        for error in errors:
            check_error(error, (role, frame))
        codes = [e["code"] for e in errors]
        if frame.size > WS_MAX_SIZE or not fs.wire_safe(frame):
            assert codes == [], (role, frame, errors)  # cut before the application
        elif verdict is not None:
            assert codes == [verdict], (role, frame, errors)
        elif frame.expect == "refused":
            assert len(codes) == 1 and codes[0] in fs.refusal_codes(frame, role), (role, frame)
        else:
            assert len(codes) <= 1, (role, frame, errors)
    site.check_healthy()


def test_frames_too_big_for_the_server_close_only_their_socket(site):
    base = f"{site.ws_base}/ws/rooms/{site.ids['room']}/"
    seller = RealSocket(base, site.ids["seller"])
    viewer = RealSocket(base, site.ids["buyer"])
    assert seller.read()["type"] == "room-state"
    assert viewer.read()["type"] == "room-state"
    # 64 KB and 1 MB: refused by the consumer, the socket stays open.
    for size in (64 * 1024 + 1, WS_MAX_SIZE):
        viewer.send(fs.sized(size, "x", "chat line"))
        error = viewer.answer()
        assert error["type"] == "error" and error["code"] == "frame_too_large", error
    viewer.send_json({"type": "join-room"})
    assert viewer.answer()["type"] == "room-state"
    # Over 1 MB, text or binary: uvicorn closes with 1009 before buffering it whole.
    for frame in (
        fs.sized(WS_MAX_SIZE + 1, "x", "chat line"),
        Frame("bytes", b"\xff" * (5 * WS_MAX_SIZE), "parse"),
    ):
        big = RealSocket(base, None)
        assert big.read()["type"] == "room-state"
        big.send(frame)
        assert big.answer() == {"type": "closed", "code": CLOSE_TOO_BIG}
    # Everyone else carries on (a resync: the chat may be in slow mode or rate limited
    # after the fuzzing above), and a fresh socket works.
    for socket in (seller, viewer):
        socket.send_json({"type": "join-room"})
        assert socket.answer()["type"] == "room-state"
    fresh = RealSocket(base, site.ids["buyer"])
    assert fresh.read()["type"] == "room-state"
    fresh.send_json({"type": "join-room"})
    assert fresh.answer()["type"] == "room-state"
    for socket in (seller, viewer, fresh):
        socket.close()
    site.check_healthy()


# --- the notification socket ----------------------------------------------------------------
notification_frames = st.one_of(
    fs.room_frames,
    st.builds(lambda t: Frame("text", t, "any"), st.text()),
    st.just(Frame("text", '{"type": "mark-read"}', "any")),
)


class Notifications:
    def __init__(self, site: Site):
        self.url = f"{site.ws_base}/ws/notifications/"
        self.token = site.ids["buyer"]
        self.socket = self.open()

    def open(self) -> RealSocket:
        socket = RealSocket(self.url, self.token)
        assert socket.read() == {"type": "unread-count", "count": 0}
        return socket


@pytest.fixture
def notifications(site):
    notifications = Notifications(site)
    yield notifications
    notifications.socket.close()


@settings(SERVER_SETTINGS, max_examples=ROOM_EXAMPLES // 2)
@given(frame=notification_frames)
@example(frame=fs.sized(WS_MAX_SIZE + 1, "x", "not JSON"))
@example(frame=Frame("bytes", b"\x00" * 100, "any"))
@example(frame=Frame("text", '{"type": "x", "text": "\ud800"}', "any"))
@example(frame=fs.deep(10_000, "list"))
def test_the_notification_socket_answers_any_frame_with_one_error(site, notifications, frame):
    socket = notifications.socket
    socket.send(frame)
    answer = socket.read()
    if frame.size > WS_MAX_SIZE:
        assert answer == {"type": "closed", "code": CLOSE_TOO_BIG}
    elif not fs.wire_safe(frame):
        assert answer == {"type": "closed", "code": CLOSE_NOT_UTF8}
    else:
        check_error(answer, frame)
        assert answer["code"] == fs.notification_code(frame, token_socket=True), answer
        socket.send_json({"type": "ping"})  # still answering, and only once per frame
        assert socket.read()["code"] == "unknown_type"
        return
    socket.close()
    notifications.socket = notifications.open()  # a fresh socket works
    site.check_healthy()


def test_the_server_log_stayed_clean(site):
    """Last in the module: nothing any frame above did shows in the server's output."""
    site.check_healthy()
