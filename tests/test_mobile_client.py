"""A scripted mobile app: only HTTP (the REST API) and the room socket (Bearer header, no
Origin), against a real server process. Nothing is scraped from the site's HTML except the
payment page, which an app opens in a browser as it would Stripe Checkout."""

import asyncio
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import websockets

PASSWORD = "An-app-Secret-77"


class App:
    """The app's HTTP client: JSON in and out, the access token in a header."""

    def __init__(self, base: str):
        self.base = base
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = path if path.startswith("http") else self.base + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def pay_in_a_browser(checkout_url: str) -> str:
    """What the app's in-app browser does on the (dummy) payment page: press Pay."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(checkout_url, timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "action": "pay"}).encode()
    request = urllib.request.Request(checkout_url, data=form, headers={"Referer": checkout_url})
    with opener.open(request, timeout=10) as response:
        return response.read().decode()


async def chat_in_the_room(ws_url: str, token: str, text: str) -> dict:
    """Join with the Bearer header, read room-state, chat, and see our line come back."""
    async with websockets.connect(
        ws_url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10
    ) as socket:
        state = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert state["type"] == "room-state"
        await socket.send(json.dumps({"type": "chat-message", "text": text}))
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 10))
            if message["type"] == "chat-message" and message["text"] == text:
                return {"state": state, "echo": message}
            assert message["type"] != "error", message


def test_a_mobile_app_registers_browses_chats_and_buys_the_spotlighted_product(live_room_site):
    base, ids = live_room_site
    app = App(base)

    # Register and sign in.
    status, me = app.call(
        "POST",
        "/api/v1/auth/register/",
        {"username": "mia_mobile", "email": "mia@example.test", "password": PASSWORD},
    )
    assert status == 201, me
    status, tokens = app.call(
        "POST", "/api/v1/auth/token/", {"username": "mia_mobile", "password": PASSWORD}
    )
    assert status == 200, tokens
    app.token = tokens["access"]
    assert app.call("GET", "/api/v1/auth/me/")[1]["username"] == "mia_mobile"

    # Browse: live rooms first, the room's detail with its spotlight and stream status.
    status, rooms = app.call("GET", "/api/v1/rooms/?status=live")
    assert status == 200
    room = next(r for r in rooms["results"] if r["id"] == ids["room"])
    status, detail = app.call("GET", f"/api/v1/rooms/{room['id']}/")
    assert detail["spotlight"]["id"] == ids["hat"]
    assert detail["stream_status"] in {"waiting", "live"}
    status, products = app.call("GET", "/api/v1/products/?q=straw")
    assert [p["id"] for p in products["results"]] == [ids["hat"]]

    # Join the room's socket as a mobile client and chat.
    ws_url = base.replace("http://", "ws://") + detail["ws_url"]
    seen = asyncio.run(chat_in_the_room(ws_url, app.token, "Does it come in blue?"))
    assert seen["state"]["you"]["username"] == "mia_mobile"
    assert seen["state"]["spotlight"]["id"] == ids["hat"]
    assert seen["echo"]["user"]["username"] == "mia_mobile"

    # The chat is there for scroll-back too (saved right after the broadcast).
    for _ in range(50):
        history = app.call("GET", f"/api/v1/rooms/{room['id']}/chat/")[1]["results"]
        if history:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert history[0]["text"] == "Does it come in blue?"

    # Buy the spotlighted product: cart, checkout, pay, and the order is paid.
    spotlight = seen["state"]["spotlight"]
    status, cart = app.call(
        "POST", "/api/v1/cart/items/", {"product_id": spotlight["id"], "quantity": 1}
    )
    assert status == 201, cart
    status, checkout = app.call("POST", "/api/v1/checkout/")
    assert status == 201, checkout
    assert checkout["checkout_url"].startswith(base + "/payments/dummy/")
    page = pay_in_a_browser(checkout["checkout_url"])
    assert "Paid" in page
    status, order = app.call("GET", f"/api/v1/orders/{checkout['order_id']}/")
    assert status == 200 and order["status"] == "paid"
    assert [item["product_id"] for item in order["items"]] == [ids["hat"]]
    assert app.call("GET", "/api/v1/cart/")[1]["count"] == 0

    # Someone else's order stays out of reach, with the API's error shape.
    other = App(base)
    other.token = ids["buyer"]
    status, error = other.call("GET", f"/api/v1/orders/{checkout['order_id']}/")
    assert status == 404 and error["error"]["code"] == "not_found"
