"""A client that stops reading must cost nobody else anything (issue 9, "Load").

Against the production server (uvicorn): its `send` waits once a socket's write buffer is
full, and the room hub writes a room's events to its sockets one at a time, so before the
fix one stalled client held up every room of the process. Now the stalled socket is dropped
from the hub and closed with 4408; the others get every line on time.
"""

import asyncio
import json
import socket
import time

import websockets
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.uri import parse_uri

CLOSE_TOO_SLOW = 4408


class StalledClient:
    """A browser-like socket (Origin, no cookie: a visitor) whose owner never reads: a tiny
    receive buffer, and nothing taken off it until `drain`."""

    def __init__(self, url: str, origin: str):
        self.protocol = ClientProtocol(parse_uri(url), origin=origin)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        uri = parse_uri(url)
        self.sock.connect((uri.host, uri.port))
        self.sock.settimeout(10)
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while self.protocol.handshake_exc is None and not self.protocol.events_received():
            self.protocol.receive_data(self.sock.recv(65536))
        assert self.protocol.handshake_exc is None, self.protocol.handshake_exc

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def send_until_blocked(self, frame: dict, most: int) -> int:
        """Send `frame` up to `most` times, stopping once the server stops reading us."""
        self.sock.settimeout(0.5)
        sent = 0
        try:
            while sent < most:
                self.protocol.send_text(json.dumps(frame).encode())
                self._flush()
                sent += 1
        except TimeoutError:
            pass
        return sent

    def drain(self, seconds: float) -> tuple[list[dict], int | None]:
        """Read everything now; the frames and the close code the server sent."""
        self.sock.settimeout(1)
        frames, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline and self.protocol.close_rcvd is None:
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not data:
                break
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                if event.opcode is Opcode.TEXT:
                    frames.append(json.loads(event.data))
        self.sock.close()
        code = self.protocol.close_rcvd.code if self.protocol.close_rcvd else None
        return frames, code


async def test_a_client_that_stops_reading_delays_nobody(live_room_site):
    base_url, ids = live_room_site
    ws_base = base_url.replace("http://", "ws://")
    path = f"/ws/rooms/{ids['room']}/"

    def bearer(token: str):
        return websockets.connect(
            ws_base + path,
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=10,
            max_size=None,
        )

    async with bearer(ids["seller"]) as seller, bearer(ids["buyer"]) as viewer:
        assert json.loads(await seller.recv())["type"] == "room-state"
        assert json.loads(await viewer.recv())["type"] == "room-state"

        async def heard(socket, wanted) -> float:
            """Seconds until `socket` hears a message `wanted` says yes to (fails after 5 s)."""
            started = time.monotonic()

            async def scan() -> None:
                while not wanted(json.loads(await socket.recv())):
                    pass

            await asyncio.wait_for(scan(), 5)
            return time.monotonic() - started

        stalled = await asyncio.to_thread(StalledClient, ws_base + path, "http://localhost")
        # Each frame of an unknown type answers an error of about 150 bytes: 30,000 of them
        # fill the server's write buffer for this client, which reads nothing.
        sent = await asyncio.to_thread(stalled.send_until_blocked, {"type": "x" * 60}, 30_000)
        assert sent >= 10_000

        # Meanwhile the show goes on for 12 s: each spotlight change reaches the reading
        # viewer on time, and so does the seller's chat.
        for n in range(60):
            product = ids["hat"] if n % 2 else None
            await seller.send(json.dumps({"type": "spotlight-product", "product_id": product}))
            seconds = await heard(
                viewer,
                lambda m, product=product: (
                    m["type"] == "spotlight-product" and (m["product"] or {}).get("id") == product
                ),
            )
            assert seconds < 2
            await asyncio.sleep(0.2)
        await seller.send(json.dumps({"type": "chat-message", "text": "still here?"}))
        assert await heard(viewer, lambda m: m.get("text") == "still here?") < 2

        frames, code = await asyncio.to_thread(stalled.drain, 30)
    # The stalled client was cut off (rather than buffered without bound) and told why.
    assert code == CLOSE_TOO_SLOW
    # ...and got nothing more once it was: not the last spotlight, not the last line.
    assert not any(f.get("text") == "still here?" for f in frames)
