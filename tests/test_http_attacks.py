"""Attackers over HTTP against a real server with the production settings (issue 9, "Bad
input and attackers").

The server is `liveshop.serve` (uvicorn) with DEBUG off, a real secret key, Stripe as the
payment backend (the fake Stripe server of orders/tests on loopback), collected static files,
HTTPS redirects, HSTS and secure cookies, as it runs behind its TLS proxy: every request says
`X-Forwarded-Proto: https`, which the server believes from loopback only. Cookies are kept by
hand, because a cookie jar would (rightly) never send a Secure cookie over the loopback's
plain HTTP. The server's SQLite database is read directly (read-only) to see what changed.

- Uploads: polyglots, SVG with script, a pixel flood, an oversize file, HTML named .png and
  path-traversal names, through the seller's and the profile's web forms and the REST API.
- CSRF: every POST form a buyer, a seller and staff are shown (crawled from the real pages)
  is posted without its token: 403, nothing changed. Session-authenticated API writes need
  X-CSRFToken; a Bearer token needs none.
- Cookies: Secure, HttpOnly and SameSite flags; anonymous (cached) pages set none.
- Mass assignment: paid, status, total, price, is_staff, seller, stock... in the bodies of
  the cart, checkout, order, profile, product and room APIs and forms: ignored or refused.
"""

import io
import json
import re
import sqlite3
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.error import HTTPError
from urllib.parse import urlencode, urljoin, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

import pytest
from PIL import Image

from catalog.tests.helpers import (
    PDF_BYTES,
    SVG_WITH_SCRIPT,
    assert_error_shape,
    png_declaring_size,
)
from conftest import image_bytes
from orders.tests.fake_stripe import (
    FakeStripe,
    checkout_session_object,
    event,
    stripe_signature,
)
from tests.helpers import manage, python, run_script, site_env, web_server
from tests.test_links import START, same_site_links
from tests.test_settings import PRODUCTION

PASSWORD = "x-Secret-99"  # tests/live_room_scenario.py's people, and ours
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# --- the attacked site ----------------------------------------------------------------------

# Beside tests/live_room_scenario.py's seller (sally), buyer (bob), live room and hat: gloves
# with stock enough for many orders, and another seller (sam) with a scarf, whose id the
# attacks put where only the caller's own may go.
MORE_SCENARIO = """
import json, django
django.setup()
from accounts import services as accounts
from accounts.models import User
from catalog import services as catalog
from catalog.models import Category
sally = User.objects.get(username="sally")
hats = Category.objects.get(name="Hats")
gloves = catalog.product_create(
    seller=sally, name="Wool gloves", price="25.00", stock=100, category=hats
)
sam = accounts.user_register(username="sam", email="sam@example.test", password="{password}")
accounts.user_become_seller(user=sam, shop_name="Sam's Scarves")
scarf = catalog.product_create(
    seller=sam, name="Silk scarf", price="40.00", stock=5, category=hats
)
users = {{u.username: u.pk for u in User.objects.all()}}
print(json.dumps({{"gloves": gloves.pk, "scarf": scarf.pk, "category": hats.pk, "users": users}}))
"""


class _NoRedirects(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer to look at, not to follow


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self):
        return json.loads(self.body)

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    @property
    def set_cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []


def multipart(fields: list[tuple[str, str]], files: dict[str, tuple[str, bytes, str]]):
    """A multipart/form-data body as a browser sends it; file names go out byte for byte
    (NUL, backslashes and all), as an attacker's client would send them."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields:
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        )
        body.write(f"{value}\r\n".encode())
    for name, (filename, content, content_type) in files.items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '.encode())
        body.write(b'filename="' + filename.encode() + b'"\r\n')
        body.write(f"Content-Type: {content_type}\r\n\r\n".encode())
        body.write(content + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


class Visitor:
    """One browser: its own cookies, kept by hand (they are Secure, and the loopback is plain
    HTTP behind the pretend TLS proxy), redirects not followed. Unsafe requests carry the
    site's own Origin and Referer, as a same-site page's would: when one is refused, the
    missing token is why, not a foreign origin."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.origin = base_url.replace("http://", "https://")
        self.cookies: dict[str, str] = {}
        self.opener = build_opener(_NoRedirects)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        bearer: str | None = None,
        headers: dict[str, str] | None = None,
        cookies: bool = True,
    ) -> Answer:
        sent = {"X-Forwarded-Proto": "https", "Accept-Language": "en"}
        if cookies and self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if method not in SAFE_METHODS:
            sent.update(Origin=self.origin, Referer=f"{self.origin}/")
        if content_type:
            sent["Content-Type"] = content_type
        if bearer:
            sent["Authorization"] = f"Bearer {bearer}"
        sent.update(headers or {})
        request = Request(self.base_url + path, data=body, method=method, headers=sent)
        try:
            with self.opener.open(request, timeout=30) as response:
                answer = Answer(response.status, response.headers, response.read())
        except HTTPError as error:
            answer = Answer(error.code, error.headers, error.read())
        for header in answer.set_cookies:
            name, _, value = header.split(";", 1)[0].partition("=")
            if value and "max-age=0" not in header.lower():
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return answer

    def get(self, path: str, **kwargs) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, fields, *, files=None, **kwargs) -> Answer:
        """A form post: `fields` a dict or (name, value) pairs, `files` {field: (name,
        bytes, content type)}."""
        pairs = list(fields.items()) if isinstance(fields, dict) else list(fields)
        if files:
            body, content_type = multipart(pairs, files)
        else:
            body, content_type = urlencode(pairs).encode(), "application/x-www-form-urlencoded"
        return self.request("POST", path, body=body, content_type=content_type, **kwargs)

    def api(self, method: str, path: str, body=None, *, bearer=None, **kwargs) -> Answer:
        data = json.dumps(body).encode() if body is not None else None
        return self.request(
            method,
            path,
            body=data,
            content_type="application/json" if data is not None else None,
            bearer=bearer,
            **kwargs,
        )

    def sign_in(self, username: str) -> "Visitor":
        form = page_forms(self.get("/accounts/login/").text, "/accounts/login/")[-1]
        fields = dict(form.fields) | {"username": username, "password": PASSWORD}
        answer = self.post("/accounts/login/", fields)
        assert answer.status == 302 and "sessionid" in self.cookies, answer.text[:500]
        return self


@dataclass
class Form:
    page: str
    action: str  # the path it posts to
    method: str
    enctype: str
    fields: list[tuple[str, str]]

    def without_token(self) -> list[tuple[str, str]]:
        return [(name, value) for name, value in self.fields if name != "csrfmiddlewaretoken"]


class FormParser(HTMLParser):
    """The forms of a page, with what a browser would submit from each as it stands: inputs'
    values, checked boxes, selected options, textareas, the first named submit button."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: list | None = None
        self._textarea: list | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        names = {name for name, _value in attrs}
        if tag == "form":
            self._form = {
                "method": (values.get("method") or "get").lower(),
                "action": values.get("action", ""),
                "enctype": values.get("enctype", ""),
                "fields": [],
                "button": False,
            }
            self.forms.append(self._form)
            return
        if tag == "option" and self._select is not None:
            if self._select[1] is None or "selected" in names:
                self._select[1] = values.get("value", "")
            return
        form, name = self._form, values.get("name")
        if form is None or not name:
            return
        if tag == "input":
            kind = values.get("type", "text").lower()
            if kind in {"checkbox", "radio"} and "checked" not in names:
                return
            if kind in {"file", "image", "reset", "button"}:
                return
            if kind == "submit":
                if form["button"]:
                    return
                form["button"] = True
            default = "on" if kind in {"checkbox", "radio"} else ""  # as browsers send them
            form["fields"].append((name, values.get("value", default)))
        elif tag == "button" and values.get("type", "submit") == "submit" and not form["button"]:
            form["button"] = True
            form["fields"].append((name, values.get("value", "")))
        elif tag == "textarea":
            self._textarea = [name, ""]
        elif tag == "select":
            self._select = [name, None]

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form["fields"].append(tuple(self._textarea))
            self._textarea = None
        elif tag == "select" and self._select is not None and self._form is not None:
            self._form["fields"].append((self._select[0], self._select[1] or ""))
            self._select = None


def page_forms(html: str, page: str) -> list[Form]:
    parser = FormParser()
    parser.feed(html)
    forms = []
    for found in parser.forms:
        target = urlsplit(urljoin(f"https://site{page}", found["action"]))
        action = target.path + (f"?{target.query}" if target.query else "")
        forms.append(Form(page, action, found["method"], found["enctype"], found["fields"]))
    return forms


def form_on(visitor: Visitor, page: str, action: str) -> Form:
    """The form of `page` (as `visitor` is shown it) that posts to `action`."""
    answer = visitor.get(page)
    assert answer.status == 200, (page, answer.status)
    forms = [form for form in page_forms(answer.text, page) if form.action == action]
    assert forms, f"no form posting to {action} on {page}"
    return forms[0]


class Database:
    """The server's SQLite file, read-only: what the attacks changed, seen from outside."""

    def __init__(self, path: Path):
        self.path = path

    def rows(self, sql: str, *params) -> list[tuple]:
        uri = f"file:{self.path}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=20)) as connection:
            return connection.execute(sql, params).fetchall()

    def one(self, sql: str, *params):
        rows = self.rows(sql, *params)
        assert len(rows) == 1, (sql, params, rows)
        return rows[0]

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table."""
        tables = [
            name for (name,) in self.rows("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {table: self.rows(f'SELECT * FROM "{table}" ORDER BY rowid') for table in tables}


@dataclass
class Site:
    base_url: str
    folder: Path
    db: Database
    stripe: FakeStripe
    ids: dict  # tests/live_room_scenario.py's, and MORE_SCENARIO's

    @property
    def media(self) -> Path:
        return self.folder / "media"

    def visitor(self, username: str | None = None) -> Visitor:
        visitor = Visitor(self.base_url)
        return visitor.sign_in(username) if username else visitor

    def user_id(self, username: str) -> int:
        return self.ids["users"][username]

    def place_order(self, product: int, quantity: int = 1, *, paid: bool = False) -> int:
        """bob's order of `product` through the API, paid through a signed Stripe webhook if
        `paid`; its id. Bob's cart must hold nothing else."""
        bob = Visitor(self.base_url)
        added = bob.api(
            "POST",
            "/api/v1/cart/items/",
            {"product_id": product, "quantity": quantity},
            bearer=self.ids["buyer"],
        )
        assert added.status == 201, added.text
        made = bob.api("POST", "/api/v1/checkout/", {}, bearer=self.ids["buyer"])
        assert made.status == 201, made.text
        order_id = made.json()["order_id"]
        if paid:
            total, currency = self.db.one(
                "SELECT total, currency FROM orders_order WHERE id = ?", order_id
            )
            order = SimpleNamespace(
                pk=order_id, total=Decimal(str(total)), currency=currency, checkout_session_id=""
            )
            payload = json.dumps(
                event("checkout.session.completed", checkout_session_object(order))
            )
            signature = stripe_signature(payload, PRODUCTION["STRIPE_WEBHOOK_SECRET"])
            hooked = bob.request(
                "POST",
                "/payments/stripe/webhook/",
                body=payload.encode(),
                content_type="application/json",
                headers={"Stripe-Signature": signature},
            )
            assert hooked.status == 200, hooked.text
            assert self.order_status(order_id) == "paid"
        return order_id

    def order_status(self, order_id: int) -> str:
        return self.db.one("SELECT status FROM orders_order WHERE id = ?", order_id)[0]

    def cart_lines(self, username: str) -> list[tuple]:
        return self.db.rows(
            "SELECT i.product_id, i.quantity FROM orders_cartitem i"
            " JOIN orders_cart c ON c.id = i.cart_id WHERE c.user_id = ? ORDER BY i.id",
            self.user_id(username),
        )

    def empty_cart(self, username: str, bearer: str) -> None:
        visitor = Visitor(self.base_url)
        for item in visitor.api("GET", "/api/v1/cart/", bearer=bearer).json()["items"]:
            gone = visitor.api("DELETE", f"/api/v1/cart/items/{item['id']}/", bearer=bearer)
            assert gone.status == 200, gone.text
        assert self.cart_lines(username) == []


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    """The production settings on a real server (uvicorn), behind a pretend TLS proxy, with
    Stripe faked on loopback; the scenario's people, a staff member (stella) and orders."""
    stripe = FakeStripe().start()
    folder = tmp_path_factory.mktemp("attacked-site")
    production = {
        **PRODUCTION,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_BEHIND_TLS_PROXY": "1",
        "DJANGO_SECURE_SSL_REDIRECT": "1",
        "DJANGO_STATIC_ROOT": str(folder / "static"),
        "STRIPE_API_BASE": stripe.url,
    }
    env = site_env(folder, **production)
    try:
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            done = manage(*command, env=env)
            assert done.returncode == 0, done.stderr
        staff = manage(
            "createsuperuser",
            "--noinput",
            "--username=stella",
            "--email=stella@example.test",
            env={**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        )
        assert staff.returncode == 0, staff.stderr
        scenario = run_script("tests/live_room_scenario.py", env=env)
        assert scenario.returncode == 0, scenario.stderr
        ids = json.loads(scenario.stdout.strip().splitlines()[-1])
        more = python(MORE_SCENARIO.format(password=PASSWORD), env=env)
        assert more.returncode == 0, more.stderr
        ids |= json.loads(more.stdout.strip().splitlines()[-1])
        with web_server(env) as base_url:
            site = Site(base_url, folder, Database(folder / "db.sqlite3"), stripe, ids)
            # Orders for the order pages and their forms: one paid, one waiting for payment.
            site.ids["paid_order"] = site.place_order(ids["gloves"], paid=True)
            site.ids["pending_order"] = site.place_order(ids["gloves"])
            yield site
    finally:
        stripe.stop()


# --- cookies ----------------------------------------------------------------------------------


def cookie_flags(header: str) -> dict[str, str]:
    """A Set-Cookie header's attributes, lower-cased names: {"secure": "", "samesite": "Lax"}."""
    flags = {}
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        flags[name.lower()] = value
    return flags


def set_cookie(answer: Answer, name: str) -> dict[str, str]:
    headers = [h for h in answer.set_cookies if h.startswith(f"{name}=")]
    assert len(headers) == 1, answer.set_cookies
    return cookie_flags(headers[0])


def test_session_and_csrf_cookies_are_secure_httponly_and_same_site(site):
    visitor = site.visitor()
    csrf = set_cookie(visitor.get("/accounts/login/"), "csrftoken")
    assert "secure" in csrf and csrf["samesite"] == "Lax"
    # The page's scripts send the CSRF cookie's value in X-CSRFToken (Django's default,
    # CSRF_COOKIE_HTTPONLY off): readable by them, never sent over plain HTTP.

    form = page_forms(visitor.get("/accounts/login/").text, "/accounts/login/")[-1]
    signed_in = visitor.post(
        "/accounts/login/", dict(form.fields) | {"username": "bob", "password": PASSWORD}
    )
    assert signed_in.status == 302
    session = set_cookie(signed_in, "sessionid")
    assert {"secure", "httponly"} <= set(session) and session["samesite"] == "Lax"
    assert "secure" in set_cookie(signed_in, "csrftoken")  # rotated at sign-in

    # Over plain HTTP nothing is served but the way to HTTPS, and HTTPS says to stay there.
    plain = Visitor(site.base_url)
    insecure = plain.request("GET", "/rooms/", headers={"X-Forwarded-Proto": "http"})
    assert (insecure.status, insecure.location) == (301, f"{visitor.origin}/rooms/")
    assert insecure.set_cookies == []
    assert "max-age=31536000" in signed_in.headers["Strict-Transport-Security"]


def test_anonymous_shop_pages_set_no_cookie_and_show_nobody_else(site):
    bob = site.visitor("bob")
    for path in ("/", "/rooms/", "/products/", f"/rooms/{site.ids['room']}/"):
        assert "Log out" in bob.get(path).text
        # Twice: the second answer may come from the server's page cache (PAGE_CACHE_SECONDS).
        for _ in range(2):
            anonymous = Visitor(site.base_url).get(path)
            assert anonymous.status == 200, path
            assert not any(c.startswith("sessionid=") for c in anonymous.set_cookies), path
            assert "Log out" not in anonymous.text and "bob" not in anonymous.text, path
    for path in ("/", "/rooms/", "/products/"):
        assert Visitor(site.base_url).get(path).set_cookies == [], path


# --- CSRF ---------------------------------------------------------------------------------

SWEPT_ROLES = ("bob", "sally", "stella")  # a buyer, a seller, staff
SWEEP_SKIP = ("/accounts/logout/", "/api/", "/static/", "/media/", "/admin/logout/")
SWEEP_PAGES = 150  # pages fetched per role, at most
SWEEP_VARIANTS = 2  # query strings per path


def post_forms_seen_by(visitor: Visitor, start: list[str]) -> dict[tuple, Form]:
    """Every POST form on the pages `visitor` reaches by following links from `start`
    (bounded: SWEEP_PAGES pages, SWEEP_VARIANTS query strings a path), one per action and
    set of fields."""
    queue, seen, variants, forms = deque(start), set(), {}, {}
    fetched = 0
    while queue and fetched < SWEEP_PAGES:
        url = queue.popleft()
        path = urlsplit(url).path
        if url in seen or path.startswith(SWEEP_SKIP) or variants.get(path, 0) >= SWEEP_VARIANTS:
            continue
        seen.add(url)
        variants[path] = variants.get(path, 0) + 1
        answer = visitor.get(url)
        fetched += 1
        if answer.status in {301, 302} and answer.location.startswith(("/", visitor.origin)):
            queue.append(answer.location.removeprefix(visitor.origin))
        if answer.status != 200 or "text/html" not in answer.headers.get("Content-Type", ""):
            continue
        for form in page_forms(answer.text, url):
            if form.method == "post":
                forms.setdefault((form.action, tuple(sorted(dict(form.fields)))), form)
        queue.extend(same_site_links(answer.text, url))
    return forms


def test_every_post_form_refuses_a_post_without_its_csrf_token(site):
    ids = site.ids
    start = [
        *START,
        "/notifications/",
        "/seller/dashboard/",
        f"/orders/{ids['pending_order']}/",
        f"/seller/orders/{ids['paid_order']}/",
        f"/seller/rooms/{ids['room']}/studio/",
    ]
    # Something in bob's cart, so that the cart page shows its forms and "Check out".
    added = Visitor(site.base_url).api(
        "POST", "/api/v1/cart/items/", {"product_id": ids["gloves"]}, bearer=ids["buyer"]
    )
    assert added.status == 201, added.text
    swept, refused_wrongly = {}, []
    for username in SWEPT_ROLES:
        visitor = site.visitor(username)
        forms = post_forms_seen_by(visitor, start + (["/admin/"] if username == "stella" else []))
        swept[username] = forms
        for form in forms.values():
            before = site.db.snapshot()
            answer = visitor.post(form.action, form.without_token())
            if answer.status != 403 or site.db.snapshot() != before:
                refused_wrongly.append(
                    f"{username}: {form.action} from {form.page}: {answer.status}"
                )
        # Still signed in: the logout forms did not log anyone out either.
        assert "Log out" in visitor.get("/").text

    counts = {name: len(forms) for name, forms in swept.items()}
    print(f"POST forms swept without a CSRF token: {counts}, {sum(counts.values())} in all")
    assert refused_wrongly == []
    # The sweep saw the forms that matter to each role (a crawl that found nothing proves
    # nothing): adding to the cart, checking out, paying, editing a product, shipping,
    # and the admin's change forms.
    actions = {name: {action for action, _fields in forms} for name, forms in swept.items()}
    assert {"/cart/add/", "/checkout/", f"/orders/{ids['pending_order']}/pay/"} <= actions["bob"]
    assert {f"/seller/products/{ids['gloves']}/edit/", "/accounts/logout/"} <= actions["sally"]
    assert f"/seller/orders/{ids['paid_order']}/ship/" in actions["sally"]
    assert any(a.startswith("/admin/orders/order/") for a in actions["stella"])

    # The same form with its token goes through: the missing token was the only difference.
    bob = site.visitor("bob")
    add = next(f for (action, _), f in swept["bob"].items() if action == "/cart/add/")
    units = sum(quantity for _product, quantity in site.cart_lines("bob"))
    form = form_on(bob, add.page, "/cart/add/")
    assert bob.post("/cart/add/", form.fields).status == 302
    assert sum(quantity for _product, quantity in site.cart_lines("bob")) == units + 1


def test_api_writes_on_a_session_need_the_csrf_header_and_a_bearer_token_needs_none(site):
    ids = site.ids
    bob, sally = site.visitor("bob"), site.visitor("sally")
    room, paid = ids["room"], ids["paid_order"]
    forged = [
        (bob, "POST", "/api/v1/cart/items/", {"product_id": ids["gloves"]}),
        (bob, "POST", "/api/v1/checkout/", {}),
        (bob, "PATCH", "/api/v1/auth/me/", {"display_name": "Forged"}),
        (bob, "POST", f"/api/v1/sellers/{site.user_id('sam')}/follow/", None),
        (bob, "POST", f"/api/v1/orders/{ids['pending_order']}/cancel/", None),
        (bob, "POST", "/api/v1/me/notifications/read/", None),
        (bob, "POST", "/api/v1/auth/become-seller/", {"shop_name": "Forged"}),
        (sally, "POST", "/api/v1/products/", {"name": "Forged", "price": "1.00", "stock": 1}),
        (sally, "PATCH", f"/api/v1/products/{ids['gloves']}/", {"price": "0.01"}),
        (sally, "DELETE", f"/api/v1/products/{ids['gloves']}/", None),
        (sally, "PATCH", f"/api/v1/rooms/{room}/", {"title": "Forged"}),
        (sally, "POST", f"/api/v1/rooms/{room}/end/", None),
        (sally, "POST", f"/api/v1/rooms/{room}/spotlight/", {"product_id": None}),
        (sally, "POST", f"/api/v1/seller/orders/{paid}/ship/", {"tracking_number": "X"}),
    ]
    for visitor, method, path, body in forged:
        before = site.db.snapshot()
        answer = visitor.api(method, path, body)
        assert answer.status == 403, (method, path, answer.status, answer.text[:300])
        assert "CSRF" in assert_error_shape(answer.json())["message"], (method, path)
        assert site.db.snapshot() == before, (method, path)
    print(f"session-authenticated API writes refused without X-CSRFToken: {len(forged)}")

    # With the cookie's value in X-CSRFToken the page's own scripts get through...
    units = sum(quantity for _product, quantity in site.cart_lines("bob"))
    genuine = bob.api(
        "POST",
        "/api/v1/cart/items/",
        {"product_id": ids["gloves"]},
        headers={"X-CSRFToken": bob.cookies["csrftoken"]},
    )
    assert genuine.status == 201, genuine.text
    # ...and so does an app with a Bearer token and no cookie at all.
    app = Visitor(site.base_url).api(
        "POST", "/api/v1/cart/items/", {"product_id": ids["gloves"]}, bearer=ids["buyer"]
    )
    assert app.status == 201, app.text
    assert sum(quantity for _product, quantity in site.cart_lines("bob")) == units + 2


# --- uploads --------------------------------------------------------------------------------

# Where each kind of upload is stored: <folder>/<year>/<month>/<32 hex>.png|jpg, a name the
# server made (liveshop/images.py), whatever the client called the file.
STORED_NAME = re.compile(r"^(products|rooms|avatars)/\d{4}/\d{2}/[0-9a-f]{32}\.(png|jpg)$")
HTML_PAGE = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


def hostile_files(tag: str, folder: Path) -> list[tuple[str, str, bytes, str, bool]]:
    """(what, file name, content, content type, accepted?): accepted files are re-encoded and
    stored under a new name; the others are refused; None: either will do. `tag` makes the
    names of this run's path-traversal files unique, so a file that escaped can be found."""
    png = image_bytes("PNG", size=(40, 30))
    return [
        ("a real PNG", "photo.png", png, "image/png", True),
        ("a PNG/HTML polyglot", "cat.png", png + HTML_PAGE, "image/png", True),
        ("an SVG with a script", "icon.svg", SVG_WITH_SCRIPT, "image/svg+xml", False),
        ("an SVG named .png", "icon.png", SVG_WITH_SCRIPT, "image/png", False),
        ("HTML named .png", "page.png", HTML_PAGE, "image/png", False),
        ("a GIF header on HTML", "page.gif", b"GIF89a" + HTML_PAGE, "image/gif", False),
        ("a PDF named .png", "invoice.png", PDF_BYTES, "image/png", False),
        (
            "a 20000x20000 pixel flood",
            "flood.png",
            png_declaring_size(20_000, 20_000).read(),
            "image/png",
            False,
        ),
        ("6 MB, over the limit", "huge.png", png + b"\0" * (6 * 1024 * 1024), "image/png", False),
        ("../ in the name", f"../../../evil-{tag}.png", png, "image/png", True),
        ("..\\ in the name", f"..\\..\\..\\evil-{tag}.png", png, "image/png", True),
        ("an absolute name", f"{folder}/evil-{tag}.png", png, "image/png", True),
        ("a NUL in the name", f"evil-{tag}.html\x00.png", png, "image/png", None),
    ]


def form_errors(html: str) -> dict[str, str]:
    """The errors a re-shown form gives, by field (templates/includes/form.html)."""
    return {
        field: re.sub(r"<[^>]+>", " ", errors).strip()
        for field, errors in re.findall(
            r'<div class="field-error" id="id_(\w+)_error">(.*?)</div>', html, re.S
        )
    }


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


@dataclass
class UploadTarget:
    """One way to upload a picture: `send(site, n, file)` answers the HTTP answer and what
    the picture field holds afterwards (a MEDIA_ROOT-relative name, or "")."""

    name: str
    field: str
    api: bool
    send: object


def _product_form(site: Site, n: int, file) -> tuple[Answer, str]:
    sally = site.visitor("sally")
    form = form_on(sally, "/seller/products/new/", "/seller/products/new/")
    name = f"Upload product {n}"
    fields = dict(form.fields) | {
        "name": name,
        "category": site.ids["category"],
        "price": "9.00",
        "stock": "1",
        "is_active": "on",
    }
    answer = sally.post(form.action, fields, files={"image": file})
    stored = site.db.rows("SELECT image FROM catalog_product WHERE name = ?", name)
    return answer, stored[0][0] if stored else ""


def _room_form(site: Site, n: int, file) -> tuple[Answer, str]:
    sally = site.visitor("sally")
    form = form_on(sally, "/seller/rooms/new/", "/seller/rooms/new/")
    title = f"Upload room {n}"
    fields = dict(form.fields) | {"title": title, "scheduled_start": "2031-01-01T10:00"}
    answer = sally.post(form.action, fields, files={"cover_image": file})
    stored = site.db.rows("SELECT cover_image FROM rooms_shoppingroom WHERE title = ?", title)
    return answer, stored[0][0] if stored else ""


def _avatar_now(site: Site) -> str:
    return site.db.one("SELECT avatar FROM accounts_user WHERE username = 'bob'")[0]


def _profile_form(site: Site, n: int, file) -> tuple[Answer, str]:
    bob = site.visitor("bob")
    before = _avatar_now(site)
    form = form_on(bob, "/accounts/profile/", "/accounts/profile/")
    answer = bob.post(form.action, form.fields, files={"avatar": file})
    after = _avatar_now(site)
    return answer, after if after != before else ""


def _product_api(site: Site, n: int, file) -> tuple[Answer, str]:
    name = f"Upload API product {n}"
    fields = {"name": name, "price": "9.00", "stock": "1", "category": site.ids["category"]}
    answer = Visitor(site.base_url).post(
        "/api/v1/products/", fields, files={"image": file}, bearer=site.ids["seller"]
    )
    stored = site.db.rows("SELECT image FROM catalog_product WHERE name = ?", name)
    return answer, stored[0][0] if stored else ""


def _room_api(site: Site, n: int, file) -> tuple[Answer, str]:
    title = f"Upload API room {n}"
    fields = {"title": title, "scheduled_start": "2031-01-01T10:00:00Z"}
    answer = Visitor(site.base_url).post(
        "/api/v1/rooms/", fields, files={"cover_image": file}, bearer=site.ids["seller"]
    )
    stored = site.db.rows("SELECT cover_image FROM rooms_shoppingroom WHERE title = ?", title)
    return answer, stored[0][0] if stored else ""


def _avatar_api(site: Site, n: int, file) -> tuple[Answer, str]:
    before = _avatar_now(site)
    body, content_type = multipart([], {"avatar": file})
    answer = Visitor(site.base_url).request(
        "PATCH", "/api/v1/auth/me/", body=body, content_type=content_type, bearer=site.ids["buyer"]
    )
    after = _avatar_now(site)
    return answer, after if after != before else ""


UPLOAD_TARGETS = [
    UploadTarget("seller's product form", "image", False, _product_form),
    UploadTarget("seller's room form", "cover_image", False, _room_form),
    UploadTarget("profile form", "avatar", False, _profile_form),
    UploadTarget("product API", "image", True, _product_api),
    UploadTarget("room API", "cover_image", True, _room_api),
    UploadTarget("me API", "avatar", True, _avatar_api),
]


@pytest.mark.parametrize("target", UPLOAD_TARGETS, ids=lambda target: target.name)
def test_hostile_uploads_are_refused_or_re_encoded_under_a_server_made_name(site, target):
    tag = uuid.uuid4().hex[:12]
    before = files_under(site.folder)
    problems, outcomes = [], []
    for n, (what, filename, content, content_type, accepted) in enumerate(
        hostile_files(tag, site.folder)
    ):
        answer, stored = target.send(site, f"{tag}-{n}", (filename, content, content_type))
        if target.api:
            refused = (
                answer.status == 400
                and target.field in (assert_error_shape(answer.json())["fields"])
            )
        else:  # the form again, saying what is wrong with the picture
            refused = answer.status == 200 and target.field in form_errors(answer.text)
        outcomes.append("refused" if refused else "stored")
        if refused and stored:
            problems.append(f"{what}: refused ({answer.status}) but stored {stored!r}")
        if accepted is False and not refused:
            problems.append(f"{what}: not refused ({answer.status}, stored {stored!r})")
        if refused or accepted is False:
            continue
        if answer.status not in ({200, 201} if target.api else {302}) or not stored:
            said = answer.text[:300] if target.api else form_errors(answer.text)
            problems.append(f"{what}: not accepted ({answer.status}) {said}")
            continue
        if not STORED_NAME.match(stored):
            problems.append(f"{what}: stored as {stored!r}")
            continue
        served = Visitor(site.base_url).get(f"/media/{stored}")
        kind = "image/png" if stored.endswith(".png") else "image/jpeg"
        picture = Image.open(io.BytesIO(served.body))
        picture.load()  # decodes: a real, whole image
        if (
            served.status != 200
            or served.headers["Content-Type"] != kind
            or served.headers["X-Content-Type-Options"] != "nosniff"
            or picture.format != kind.split("/")[1].upper()
            or picture.size != (40, 30)
            or served.body == content  # re-encoded, never the bytes as uploaded
            or b"<script" in served.body
            or b"<html" in served.body.lower()
        ):
            problems.append(f"{what}: served {served.status} {served.headers['Content-Type']}")
    print(f"{target.name}: {len(outcomes)} uploads, {outcomes.count('refused')} refused")
    assert problems == [], "\n".join(problems)

    # Every new file is a re-encoded picture inside MEDIA_ROOT; nothing landed anywhere else.
    new = files_under(site.folder) - before
    outside = [path for path in new if site.media not in path.parents]
    assert outside == [] and all(
        STORED_NAME.match(str(path.relative_to(site.media))) for path in new
    ), sorted(new)
    escaped = [
        path
        for root in (site.folder.parent, Path(__file__).resolve().parent.parent)
        for path in root.glob(f"**/evil-{tag}*")
    ]
    assert escaped == []


def test_media_urls_never_reach_outside_media_root(site):
    """Uploads are served by the app itself (liveshop/views.py serve_media): a crafted URL
    must not read the database, the settings or the system's files, nor list a folder."""
    visitor = Visitor(site.base_url)
    for path in [
        "../db.sqlite3",
        "..%2fdb.sqlite3",
        "%2e%2e/db.sqlite3",
        "%2e%2e%2fdb.sqlite3",
        "..%5cdb.sqlite3",
        "....//db.sqlite3",
        "/etc/passwd",
        "%2fetc%2fpasswd",
        "..%00/db.sqlite3",
        "../../../../../../etc/passwd",
        "",
        "products/",
    ]:
        answer = visitor.get(f"/media/{path}")
        assert answer.status in {400, 404}, (path, answer.status)
        assert b"SQLite format" not in answer.body and b"root:" not in answer.body, path


def test_a_request_for_another_host_is_refused(site):
    """Absolute URLs in answers (image and checkout URLs) are built from the Host header:
    a forged one must not get an answer at all."""
    forged = Visitor(site.base_url).get("/api/v1/products/", headers={"Host": "evil.example"})
    assert forged.status == 400
    assert b"evil.example" not in forged.body


# --- mass assignment ------------------------------------------------------------------------


def forbidden(site: Site, *allowed: str) -> dict:
    """Fields a client may never set, with values that would help an attacker: all of them
    but the `allowed` ones (those the endpoint takes, which the caller sets honestly)."""
    sam, scarf = site.user_id("sam"), site.ids["scarf"]
    fields = {
        "paid": True,
        "is_paid": True,
        "status": "paid",
        "payment_status": "paid",
        "amount_total": 1,
        "total": "0.01",
        "price": "0.01",
        "unit_price": "0.01",
        "line_total": "0.01",
        "currency": "EUR",
        "stock": 999_999,
        "seller": sam,
        "seller_id": sam,
        "buyer": sam,
        "user": sam,
        "user_id": sam,
        "owner": sam,
        "cart": 999,
        "id": 424_242,
        "pk": 424_242,
        "order_id": 424_242,
        "is_staff": True,
        "is_superuser": True,
        "is_active": False,
        "role": "staff",
        "username": "root",
        "password": "new-Secret-77",
        "needs_review": False,
        "review_reason": "",
        "tracking_number": "FORGED",
        "checkout_url": "https://evil.example/pay",
        "payment_intent_id": "pi_forged",
        "slug": "forged-slug",
        "created_at": "2000-01-01T00:00:00Z",
        "peak_viewers": 99_999,
        "spotlight_product": scarf,
        "started_at": "2000-01-01T00:00:00Z",
        "ended_at": "2000-01-01T00:00:00Z",
    }
    return {name: value for name, value in fields.items() if name not in allowed}


def as_form(fields: dict) -> dict[str, str]:
    return {
        name: ("on" if value else "") if isinstance(value, bool) else str(value)
        for name, value in fields.items()
    }


def money(value) -> Decimal:
    return Decimal(str(value))


def order_row(site: Site, order_id) -> dict:
    columns = "status, total, currency, buyer_id, needs_review, tracking_number, checkout_url"
    row = site.db.one(f"SELECT {columns} FROM orders_order WHERE id = ?", order_id)
    return dict(zip(columns.split(", "), row, strict=True)) | {"total": money(row[1])}


def order_lines(site: Site, order_id) -> list[tuple]:
    rows = site.db.rows(
        "SELECT product_id, seller_id, unit_price, quantity FROM orders_orderitem"
        " WHERE order_id = ? ORDER BY id",
        order_id,
    )
    return [(product, seller, money(price), quantity) for product, seller, price, quantity in rows]


def product_row(site: Site, product_id) -> tuple:
    columns = "seller_id, price, currency, stock, slug, is_active"
    return site.db.one(f"SELECT {columns} FROM catalog_product WHERE id = ?", product_id)


def user_row(site: Site, username: str) -> tuple:
    columns = "id, username, password, role, is_staff, is_superuser, is_active, date_joined"
    return site.db.one(f"SELECT {columns} FROM accounts_user WHERE username = ?", username)


def room_row(site: Site, room_id) -> tuple:
    columns = "seller_id, status, started_at, ended_at, spotlight_product_id, peak_viewers"
    return site.db.one(f"SELECT {columns} FROM rooms_shoppingroom WHERE id = ?", room_id)


def newest_order(site: Site) -> int:
    return site.db.one("SELECT max(id) FROM orders_order WHERE buyer_id = ?", site.user_id("bob"))[
        0
    ]


def stripe_unit_amounts(site: Site) -> list[str]:
    """The prices the newest Stripe Checkout session was made with, in cents."""
    form = site.stripe.session_requests()[-1].form
    return [v for k, v in sorted(form.items()) if k.endswith("[price_data][unit_amount]")]


def test_client_set_prices_statuses_and_owners_are_ignored_by_the_api(site):
    ids, app = site.ids, Visitor(site.base_url)
    bob, sally, gloves, sam = ids["buyer"], ids["seller"], ids["gloves"], site.user_id("sam")
    site.empty_cart("bob", bob)
    product_before = product_row(site, gloves)

    # The cart: a line's product, price and owner are the server's.
    added = app.api(
        "POST",
        "/api/v1/cart/items/",
        {"product_id": gloves, "quantity": 1, **forbidden(site)},
        bearer=bob,
    )
    assert added.status == 201, added.text
    assert added.json()["cart"]["total"] == "25.00"
    changed = app.api(
        "PATCH",
        f"/api/v1/cart/items/{added.json()['item']['id']}/",
        {"quantity": 2, "product_id": ids["scarf"], **forbidden(site)},
        bearer=bob,
    )
    assert changed.status == 200, changed.text
    assert site.cart_lines("bob") == [(gloves, 2)]
    assert product_row(site, gloves) == product_before

    # Checkout: the order waits for payment, at the catalogue's prices, and Stripe is asked
    # for those prices.
    made = app.api("POST", "/api/v1/checkout/", forbidden(site), bearer=bob)
    assert made.status == 201, made.text
    order = made.json()["order_id"]
    assert order != 424_242 and "evil" not in made.json()["checkout_url"]
    pending = order_row(site, order)
    assert (pending["status"], pending["total"], pending["currency"]) == (
        "pending",
        Decimal("50.00"),
        "USD",
    )
    assert (pending["buyer_id"], pending["needs_review"], pending["tracking_number"]) == (
        site.user_id("bob"),
        False,
        "",
    )
    assert order_lines(site, order) == [(gloves, site.user_id("sally"), Decimal("25.00"), 2)]
    assert stripe_unit_amounts(site) == ["2500"]
    assert product_row(site, gloves)[3] == product_before[3] - 2  # stock: the 2 reserved

    # Nothing a client sends makes it paid, shipped or anyone else's.
    for method, path, token, body, status in [
        ("POST", f"/api/v1/orders/{order}/pay/", bob, forbidden(site), 200),  # where to pay
        ("PATCH", f"/api/v1/orders/{order}/", bob, forbidden(site), 405),
        ("PUT", f"/api/v1/orders/{order}/", bob, forbidden(site), 405),
        (
            "POST",
            f"/api/v1/seller/orders/{order}/ship/",
            sally,
            {"tracking_number": "TRK-1", **forbidden(site, "tracking_number")},
            409,  # not paid
        ),
    ]:
        answer = app.api(method, path, body, bearer=token)
        assert answer.status == status, (method, path, answer.status, answer.text)
        assert order_row(site, order) == pending, (method, path)
    cancelled = app.api("POST", f"/api/v1/orders/{order}/cancel/", forbidden(site), bearer=bob)
    assert cancelled.status == 200, cancelled.text
    assert order_row(site, order) == pending | {"status": "cancelled"}

    # Shipping a paid order ships it; "delivered" or any total in the body changes nothing.
    paid = site.place_order(gloves, paid=True)
    was = order_row(site, paid)
    shipped = app.api(
        "POST",
        f"/api/v1/seller/orders/{paid}/ship/",
        {"tracking_number": "TRK-2", **forbidden(site, "tracking_number")},
        bearer=sally,
    )
    assert shipped.status == 200, shipped.text
    assert order_row(site, paid) == was | {"status": "shipped", "tracking_number": "TRK-2"}

    # People: no staff flag, role, username, password or deactivation from a body.
    bob_before = user_row(site, "bob")
    me = app.api(
        "PATCH", "/api/v1/auth/me/", {"display_name": "Bob", **forbidden(site)}, bearer=bob
    )
    assert me.status == 200, me.text
    assert user_row(site, "bob") == bob_before
    registered = app.api(
        "POST",
        "/api/v1/auth/register/",
        {
            "username": "mallory",
            "email": "mallory@example.test",
            "password": PASSWORD,
            **forbidden(site, "username", "password"),
        },
    )
    assert registered.status == 201, registered.text
    assert user_row(site, "mallory")[3:7] == ("buyer", False, False, True)

    # A seller's product and room: always theirs, with the server's slug, id and status.
    created = app.api(
        "POST",
        "/api/v1/products/",
        {
            "name": "Felt beret",
            "price": "12.00",
            "stock": 3,
            "category": ids["category"],
            **forbidden(site, "price", "stock", "currency", "is_active"),
        },
        bearer=sally,
    )
    assert created.status == 201, created.text
    beret = created.json()["id"]
    assert beret != 424_242
    seller, price, currency, stock, slug, on_sale = product_row(site, beret)
    assert (seller, money(price), currency, stock, on_sale) == (
        site.user_id("sally"),
        Decimal("12.00"),
        "USD",
        3,
        True,
    )
    assert slug.startswith("felt-beret")  # the server's slug (unique: a suffix), not ours
    room_before = room_row(site, ids["room"])
    edited = app.api(
        "PATCH",
        f"/api/v1/rooms/{ids['room']}/",
        {"description": "Hats and gloves", **forbidden(site)},
        bearer=sally,
    )
    assert edited.status == 200, edited.text
    assert room_row(site, ids["room"]) == room_before
    assert sam not in {product_row(site, beret)[0], room_row(site, ids["room"])[0]}
    print(f"fields a client may not set, sent in API bodies: {len(forbidden(site))}")


def submit(visitor: Visitor, page: str, action: str, changes: dict) -> Answer:
    """Post the form of `page` that posts to `action`, as shown (token included), with
    `changes` on top: what a person would send after editing the page's HTML."""
    form = form_on(visitor, page, action)
    return visitor.post(action, dict(form.fields) | as_form(changes))


def test_client_set_prices_statuses_and_owners_are_ignored_by_the_web_forms(site):
    ids = site.ids
    gloves, room = ids["gloves"], ids["room"]
    bob, sally = site.visitor("bob"), site.visitor("sally")
    site.empty_cart("bob", ids["buyer"])
    product_before = product_row(site, gloves)
    product_page = Visitor(site.base_url).api("GET", f"/api/v1/products/{gloves}/").json()["url"]

    # The cart: from the product page's "Add to cart", then the cart's quantity form.
    added = submit(bob, product_page, "/cart/add/", {"quantity": 1, **forbidden(site)})
    assert added.status == 302
    assert site.cart_lines("bob") == [(gloves, 1)]
    item = site.db.one(
        "SELECT i.id FROM orders_cartitem i JOIN orders_cart c ON c.id = i.cart_id"
        " WHERE c.user_id = ?",
        site.user_id("bob"),
    )[0]
    changes = {"quantity": 2, "product_id": ids["scarf"], **forbidden(site)}
    assert submit(bob, "/cart/", f"/cart/items/{item}/", changes).status == 302
    assert site.cart_lines("bob") == [(gloves, 2)]
    assert product_row(site, gloves) == product_before

    # Check out, pay, cancel: pending at the catalogue's price, then cancelled, never paid.
    checked_out = submit(bob, "/cart/", "/checkout/", forbidden(site))
    order = newest_order(site)
    pending = order_row(site, order)
    # Off to the Stripe Checkout page the server asked (the fake) Stripe for.
    assert (checked_out.status, checked_out.location) == (302, pending["checkout_url"])
    assert (pending["status"], pending["total"], pending["buyer_id"]) == (
        "pending",
        Decimal("50.00"),
        site.user_id("bob"),
    )
    assert order_lines(site, order) == [(gloves, site.user_id("sally"), Decimal("25.00"), 2)]
    assert stripe_unit_amounts(site) == ["2500"]
    paying = submit(bob, f"/orders/{order}/", f"/orders/{order}/pay/", forbidden(site))
    assert (paying.status, paying.location) == (302, pending["checkout_url"])
    assert order_row(site, order) == pending
    cancelling = submit(bob, f"/orders/{order}/", f"/orders/{order}/cancel/", forbidden(site))
    assert cancelling.status == 302
    assert order_row(site, order) == pending | {"status": "cancelled"}

    # The seller ships a paid order: shipped, whatever else the form carried.
    paid = site.place_order(gloves, paid=True)
    was = order_row(site, paid)
    ship = {"tracking_number": "TRK-3", **forbidden(site, "tracking_number")}
    shipped = submit(sally, f"/seller/orders/{paid}/", f"/seller/orders/{paid}/ship/", ship)
    assert shipped.status == 302
    assert order_row(site, paid) == was | {"status": "shipped", "tracking_number": "TRK-3"}

    # Profiles and sign-up: no staff flag, role, username or password from a form.
    bob_before = user_row(site, "bob")
    profile = {"display_name": "Bobby", **forbidden(site)}
    assert submit(bob, "/accounts/profile/", "/accounts/profile/", profile).status == 302
    assert user_row(site, "bob") == bob_before
    sign_up = {
        "username": "trudy",
        "email": "trudy@example.test",
        "password1": PASSWORD,
        "password2": PASSWORD,
        **forbidden(site, "username", "password"),
    }
    visitor = Visitor(site.base_url)
    assert submit(visitor, "/accounts/register/", "/accounts/register/", sign_up).status == 302
    assert user_row(site, "trudy")[3:7] == ("buyer", False, False, True)

    # The seller's own product and room stay theirs, with the server's slug and status.
    edit = f"/seller/products/{gloves}/edit/"
    changes = {"name": "Wool gloves", **forbidden(site, "price", "currency", "stock", "is_active")}
    stock_now = product_row(site, gloves)[3]  # two reserved, released, one sold
    assert submit(sally, edit, edit, changes).status == 302
    assert product_row(site, gloves) == product_before[:3] + (stock_now,) + product_before[4:]
    room_before = room_row(site, room)
    edit = f"/seller/rooms/{room}/edit/"
    assert submit(sally, edit, edit, {"description": "Gloves too", **forbidden(site)}).status == 302
    assert room_row(site, room) == room_before
