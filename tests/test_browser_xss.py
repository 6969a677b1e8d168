"""Chat and titles carrying XSS payloads, in Chromium against a real server (issue 9, "Bad
input and attackers").

A corpus of payloads (script tags, event handlers, javascript:/data: URLs, broken tags and
quote escapes, entities and double encoding, Unicode tricks, template syntax, CSS, iframe
srcdoc, mXSS, the longest line the chat takes) is posted over the room socket by ten people
whose display names are payloads too, while a viewer watches in Chromium; then the same
lines are replayed from the room's history to people who arrive later. A seller then gives
the room, a product and the shop payload names, and the pages that show them are opened.

Nothing may run: every payload that could run calls `__xss(n)`, `alert(n)` or
`console.log("xss n")`, and each page counts those (a binding exposed to the page, dialogs,
console lines). Nothing may be injected: no element with an `on*` attribute, no iframe,
object or embed, no script of the payloads' anywhere in the page, and each chat line holds
only the elements room.js makes, its text exactly what was typed.
"""

import json
import re
from http.cookiejar import CookieJar
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener, urlopen

from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.browser import log_in

CHAT_MAX_CHARS = 500  # rooms/consumers.py
LONG_LINE = ("<img src=x onerror=__xss(90)>" * 20)[:CHAT_MAX_CHARS]

CORPUS = [
    # script tags
    "<script>__xss(1)</script>",
    "<SCRIPT SRC=data:text/javascript,__xss(2)></SCRIPT>",
    "<script>alert(3)</script>",
    "</script><script>__xss(4)</script>",
    "<scr<script>ipt>__xss(5)</scr</script>ipt>",
    # event-handler attributes
    "<img src=x onerror=__xss(6)>",
    '<img src="x" onerror="console.log(\'xss 7\')">',
    "<svg onload=__xss(8)>",
    "<svg><animate onbegin=__xss(9) attributeName=x dur=1s>",
    "<body onload=__xss(10)>",
    "<details open ontoggle=__xss(11)>",
    "<input autofocus onfocus=__xss(12)>",
    "<video><source onerror=__xss(13)></video>",
    '<div onmouseover=__xss(14) style="position:fixed;inset:0">hover me</div>',
    # javascript: and data: URLs
    '<a href="javascript:__xss(15)">click</a>',
    "javascript:__xss(16)",
    '<iframe src="javascript:parent.__xss(17)"></iframe>',
    '<object data="data:text/html,<script>parent.__xss(18)</script>"></object>',
    '<embed src="data:image/svg+xml,<svg onload=parent.__xss(19)>">',
    '<meta http-equiv="refresh" content="0;url=javascript:__xss(20)">',
    # broken and nested tags, attribute-quote escapes
    '"><img src=x onerror=__xss(21)>',
    "'><svg onload=__xss(22)>",
    '" onmouseover="__xss(23)" x="',
    "' autofocus onfocus='__xss(24)",
    '<img """><script>__xss(25)</script>">',
    "<<img src=x onerror=__xss(26)>//",
    "<img src=x onerror=__xss(27)//",
    "--><img src=x onerror=__xss(28)><!--",
    # HTML entities and double encoding
    "&lt;img src=x onerror=__xss(29)&gt;",
    "&#60;script&#62;__xss(30)&#60;/script&#62;",
    "%3Cscript%3E__xss(31)%3C%2Fscript%3E",
    "%253Cimg%2520src%253Dx%2520onerror%253D__xss(32)%253E",
    "\\u003cimg src=x onerror=__xss(33)\\u003e",
    "<img src=x onerror=&#95;&#95;xss(34)>",
    # Unicode tricks
    "\uff1cscript\uff1e__xss(35)\uff1c/script\uff1e",  # full-width < and >
    "<img src=x\u2028onerror=__xss(36)>",  # LINE SEPARATOR inside the tag
    "line one\u2028<script>__xss(37)</script>\u2029line two",
    "<\u017fcript>__xss(38)</\u017fcript>",  # long s: upper-cases to S
    "\u202e<img src=x onerror=__xss(39)>",  # right-to-left override (taken out, see below)
    "\x00<script>__xss(40)</script>",  # NUL (taken out, see below)
    # template injection
    "{{7*7}}",
    "${7*7}",
    "{{constructor.constructor('__xss(43)')()}}",
    "{% debug %}#{7*7}<%= 7*7 %>",
    # CSS and style injection
    "<style>body{display:none}</style>",
    '<div style="background:url(javascript:__xss(46))">x</div>',
    # iframe srcdoc and mutation XSS
    '<iframe srcdoc="<script>parent.__xss(47)</script>"></iframe>',
    '<noscript><p title="</noscript><img src=x onerror=__xss(48)>">',
    "<math><mtext><table><mglyph><style><img src=x onerror=__xss(49)>",
    # the longest line the chat takes
    LONG_LINE,
]
# The server takes control and bidi-override characters out of chat lines
# (rooms/consumers.py, CONTROL_CHARACTERS); everything else is shown exactly as typed.
SHOWN_AS = {
    "\u202e<img src=x onerror=__xss(39)>": "<img src=x onerror=__xss(39)>",
    "\x00<script>__xss(40)</script>": "<script>__xss(40)</script>",
}
# Who writes: display names up to 80 characters, shown as each line's author.
WRITER_NAMES = [
    "<img src=x onerror=__xss(101)>",
    '"><svg onload=__xss(102)>',
    "</span><script>__xss(103)</script>",
    "{{7*7}}",
    "<iframe srcdoc='<script>parent.__xss(105)</script>'>",
    "<a href=javascript:__xss(106)>me</a>",
    "&lt;b&gt;bold&lt;/b&gt;",
    "\uff1cimg src=x onerror=__xss(108)\uff1e",
    "<style>*{display:none}</style>",
    "' onfocus='__xss(110)' autofocus='",
]
LINES_PER_WRITER = 5  # the chat's rate limit (rooms/consumers.py CHAT_RATE): 5 per 10 s
# A late joiner's room-state carries the last 50 lines (ROOM_STATE_CHAT): the whole corpus.
assert len(CORPUS) <= 50 and len(CORPUS) <= len(WRITER_NAMES) * LINES_PER_WRITER

# Set by the seller over the API, each within its field's length (title 120, name 200, shop 80).
ROOM_TITLE = "</title><script>__xss(201)</script><img src=x onerror=__xss(202)>{{7*7}}"
PRODUCT_NAME = (
    '"><svg onload=__xss(203)></script><script>__xss(204)</script>'
    '<iframe srcdoc="<script>parent.__xss(205)</script>">\'${7*7}'
)
SHOP_NAME = "<img src=x onerror=alert(206)>'\"</a><script>__xss(207)</script>"
DESCRIPTION = (
    '<a href="javascript:__xss(208)">more</a>\n<style>*{display:none}</style>'
    '\n<noscript><p title="</noscript><img src=x onerror=__xss(209)>">'
)

# Everything a page holds that a payload could have put there. The site's own markup has no
# inline handler, no frame and no embedded object, so any of these is an injection.
INJECTED = """() => {
  const found = [];
  for (const element of document.querySelectorAll("*")) {
    const handlers = [...element.attributes].filter((a) => a.name.startsWith("on"));
    if (handlers.length) found.push(element.outerHTML.slice(0, 120));
  }
  for (const element of document.querySelectorAll("iframe, object, embed, frame, base")) {
    found.push(element.outerHTML.slice(0, 120));
  }
  for (const script of document.scripts) {
    const src = script.getAttribute("src") || "";
    if (script.text.includes("xss") || /^(data|javascript):/i.test(src)) {
      found.push(script.outerHTML.slice(0, 120));
    }
  }
  return found;
}"""

# Each chat line as room.js builds it (static/js/room.js renderMessage): these children
# only, each holding text and nothing else (the tools hold their buttons).
CHAT_LINES = """() => {
  const made = new Set(["SPAN chat-msg__author", "SPAN badge badge--seller",
                        "TIME chat-msg__time", "P chat-msg__text", "DIV chat-msg__tools"]);
  const onlyText = (node) => [...node.childNodes].every((n) => n.nodeType === Node.TEXT_NODE);
  const log = document.getElementById("chat-log");
  return {
    others: [...log.children].filter((c) => !c.classList.contains("chat-msg"))
                             .map((c) => c.outerHTML.slice(0, 120)),
    lines: [...log.querySelectorAll(":scope > .chat-msg")].map((item) => {
      const strange = [...item.children].filter((c) => !made.has(`${c.tagName} ${c.className}`))
        .map((c) => c.outerHTML.slice(0, 120));
      for (const part of item.children) {
        if (part.classList.contains("chat-msg__tools")) {
          for (const b of part.children) {
            if (b.tagName !== "BUTTON" || !onlyText(b)) strange.push(b.outerHTML.slice(0, 120));
          }
        } else if (!onlyText(part)) {
          strange.push(part.outerHTML.slice(0, 120));
        }
      }
      return {
        author: item.querySelector(":scope > .chat-msg__author").textContent,
        text: item.querySelector(":scope > .chat-msg__text").textContent,
        strange,
      };
    }),
  };
}"""


def sign_up(base_url: str, username: str, password: str, display_name: str) -> str:
    """A new person, through the site's sign-up and profile forms as anyone can; the Cookie
    header of their session."""
    jar = CookieJar()
    opener = build_opener(HTTPCookieProcessor(jar))

    def post(path: str, fields: dict) -> str:
        page = opener.open(base_url + path, timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
        data = urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
        request = Request(base_url + path, data=data, headers={"Referer": base_url + path})
        with opener.open(request, timeout=10) as answer:
            return answer.read().decode()

    email = f"{username}@example.test"
    fields = {"username": username, "email": email, "password1": password, "password2": password}
    assert "Log out" in post("/accounts/register/", fields)
    post("/accounts/profile/", {"display_name": display_name, "email": email})
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def api(base_url: str, method: str, path: str, token: str, body: dict) -> dict:
    request = Request(
        base_url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Canary:
    """Counts, for one browser context, every way a payload could have run: calls of the
    exposed `__xss`, dialogs (alert, confirm), console lines that say xss, script errors."""

    def __init__(self, browser):
        self.calls: list = []
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context()
        self.context.expose_function("__xss", lambda *args: self.calls.append(args))

    def page(self):
        page = self.context.new_page()

        def on_dialog(dialog) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("console", lambda line: "xss" in line.text and self.console.append(line.text))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    def assert_silent(self, page) -> None:
        # A queued handler (onerror of an image that failed) runs within a few frames: give
        # the page a moment, bounded, before concluding nothing ran.
        page.wait_for_timeout(500)
        assert self.calls == [], f"payloads ran: {self.calls}"
        assert self.dialogs == [], f"payloads opened dialogs: {self.dialogs}"
        assert self.console == [], f"payloads logged: {self.console}"
        assert self.errors == [], f"script errors: {self.errors}"
        assert page.evaluate(INJECTED) == []


def post_lines(base_url: str, room: int, cookie: str, lines: list[str]) -> list[dict]:
    """One writer's lines over the room socket (signed in by their session, as in their
    browser), each answered (its echo or an error) before the next goes: the viewers see
    them in this order."""
    answers = []
    ws_url = base_url.replace("http://", "ws://") + f"/ws/rooms/{room}/"
    with connect(
        ws_url, origin=base_url, additional_headers={"Cookie": cookie}, open_timeout=10
    ) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "room-state"
        for line in lines:
            socket.send(json.dumps({"type": "chat-message", "text": line}))
            for _ in range(50):  # viewer counts may come in between
                frame = json.loads(socket.recv(timeout=10))
                if frame["type"] in {"chat-message", "error"}:
                    answers.append(frame)
                    break
    return answers


def assert_chat_shows_the_corpus_as_text(page, *, authors: list[str]) -> None:
    expect(page.locator("#chat-log > .chat-msg")).to_have_count(len(CORPUS), timeout=30000)
    shown = page.evaluate(CHAT_LINES)
    assert shown["others"] == []
    assert [line["strange"] for line in shown["lines"] if line["strange"]] == []
    assert [line["text"] for line in shown["lines"]] == [SHOWN_AS.get(p, p) for p in CORPUS]
    assert [line["author"] for line in shown["lines"]] == authors
    expect(page.locator("#chat-log")).to_be_visible()  # no payload's style hid it


def test_chat_payloads_stay_text_live_and_replayed(chromium, live_room_site):
    base_url, ids = live_room_site
    room_url = f"{base_url}/rooms/{ids['room']}/"
    writers = [
        sign_up(base_url, f"writer{n}", ids["password"], name)
        for n, name in enumerate(WRITER_NAMES)
    ]
    authors = [WRITER_NAMES[n // LINES_PER_WRITER] for n in range(len(CORPUS))]

    # Live: an anonymous viewer watches while the ten post the corpus.
    live = Canary(chromium)
    try:
        viewer = live.page()
        viewer.goto(room_url)
        expect(viewer.locator("#chat-log .chat__placeholder")).to_have_text(
            "No messages yet. Say hello!"
        )
        for n, writer in enumerate(writers):
            lines = CORPUS[n * LINES_PER_WRITER : (n + 1) * LINES_PER_WRITER]
            answers = post_lines(base_url, ids["room"], writer, lines)
            assert [a.get("text") for a in answers] == [SHOWN_AS.get(p, p) for p in lines]
        # One character over the limit is refused, and nobody sees it.
        refused = post_lines(base_url, ids["room"], writers[-1], [LONG_LINE + "x"])
        assert (refused[0]["type"], refused[0]["code"]) == ("error", "invalid")

        assert_chat_shows_the_corpus_as_text(viewer, authors=authors)
        assert viewer.url == room_url  # no refresh or redirect took the page away
        live.assert_silent(viewer)
    finally:
        live.context.close()

    # Replayed: a buyer and the seller (who sees moderation tools on each line) arrive after.
    for username in ("bob", "sally"):
        later = Canary(chromium)
        try:
            page = later.page()
            log_in(page, base_url, username, ids["password"])
            page.goto(room_url)
            assert_chat_shows_the_corpus_as_text(page, authors=authors)
            if username == "sally":
                expect(page.locator("#chat-log .chat-msg__tools").first).to_be_visible()
            later.assert_silent(page)
        finally:
            later.context.close()


def test_titles_and_names_a_seller_sets_stay_text_where_they_render(chromium, live_room_site):
    base_url, ids = live_room_site
    seller = ids["seller"]
    product = api(
        base_url,
        "PATCH",
        f"/api/v1/products/{ids['hat']}/",
        seller,
        {"name": PRODUCT_NAME, "description": DESCRIPTION},
    )
    room = api(
        base_url,
        "PATCH",
        f"/api/v1/rooms/{ids['room']}/",
        seller,
        {"title": ROOM_TITLE, "description": DESCRIPTION},
    )
    api(base_url, "PATCH", "/api/v1/auth/me/", seller, {"shop_name": SHOP_NAME})
    assert (product["name"], room["title"]) == (PRODUCT_NAME, ROOM_TITLE)  # stored as typed

    # Where each name is shown, and the element that must show it as plain text.
    shown_in = [
        (f"/rooms/{ids['room']}/", ".room-head__title", ROOM_TITLE),
        (f"/rooms/{ids['room']}/", "#spotlight-name", PRODUCT_NAME),  # room.js, room-state
        (f"/rooms/{ids['room']}/", ".room-product__name", PRODUCT_NAME),
        (f"/rooms/{ids['room']}/", ".room-head__meta a", SHOP_NAME),
        ("/rooms/", ".room-card__title", ROOM_TITLE),
        ("/", ".room-card__title", ROOM_TITLE),
        (product["url"], ".product-detail__title", PRODUCT_NAME),
        ("/products/", "main", PRODUCT_NAME),
        ("/sellers/sally/", "main", SHOP_NAME),
    ]
    canary = Canary(chromium)
    try:
        page = canary.page()
        for path, selector, name in shown_in:
            if page.url != base_url + path:
                page.goto(base_url + path)
            expect(page.locator(selector).filter(has_text=name).first).to_be_visible()
            if selector != "main":
                assert page.locator(selector).first.text_content().strip() == name, path
            canary.assert_silent(page)
        page.goto(f"{base_url}/rooms/{ids['room']}/")
        assert page.title() == f"{ROOM_TITLE} · LiveShop"
        expect(page.locator(".room-info .prose")).to_contain_text("<style>*{display:none}</style>")
        canary.assert_silent(page)
    finally:
        canary.context.close()
