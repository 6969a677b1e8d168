"""Hypothesis strategies for frames a client may send on a socket (issue 9), and the oracle
that says what the room socket must answer to each (docs/realtime.md, "Errors").

Shared by rooms/tests/test_frame_fuzz.py (in process), tests/test_socket_fuzz_server.py (a
real uvicorn) and notifications/tests/test_frame_fuzz.py. A plain module, not a test file.

A generated frame is a `Frame`: its `kind` ("text" or "bytes"), its `data`, and `expect`:
- "parse": the frame never reaches a handler; the only answer is the error `verdict()` names
  (invalid_json, invalid_frame, frame_too_large: malformed, counted towards the close 4400;
  or unknown_type, not counted);
- "refused": a known type whose fields are wrong (type, range, size, missing): exactly one
  error, whatever the sender's role, and nothing in the room changes;
- "any": a known type with arbitrary fields: it may succeed or be refused, never with
  `server_error` nor more than one error.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import jwt
from hypothesis import strategies as st

from liveshop.websocket import MAX_TOKEN_CHARS
from notifications.consumers import MAX_FRAME_CHARS as NOTIFICATION_MAX_FRAME_CHARS
from rooms.consumers import CONTROL_CHARACTERS, ID_PATTERN, MAX_FRAME_CHARS, RoomConsumer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "realtime.md"
MALFORMED = frozenset({"invalid_json", "invalid_frame", "frame_too_large"})
KNOWN_TYPES = tuple(RoomConsumer.HANDLERS)
# Types whose frames change the room whatever their fields (or end the socket): left out of
# the "any fields" frames, each has its wrong-field frames below (leave-room closes with
# 1000, tested in test_consumer.py).
UNSAFE_TYPES = frozenset({"leave-room", "ban-user", "mute-user", "webrtc-offer"})
MODERATOR_TYPES = frozenset(
    {
        "spotlight-product",
        "queue-admit-next",
        "delete-message",
        "mute-user",
        "ban-user",
        "slow-mode",
    }
)


def documented_error_codes() -> frozenset[str]:
    """The codes of docs/realtime.md's "Errors" table: the public contract."""
    text = DOCS.read_text()
    section = text.split("## Errors", 1)[1].split("\n## ", 1)[0]
    codes = frozenset(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))
    assert {"invalid_json", "invalid_frame", "server_error"} <= codes, codes
    return codes


@dataclass(frozen=True)
class Frame:
    kind: str  # "text" or "bytes"
    data: str | bytes
    expect: str  # "parse", "refused" or "any" (the module's docstring)
    note: str = ""

    def __repr__(self) -> str:  # Hypothesis prints failing examples: keep them readable
        data = self.data if len(self.data) <= 300 else self.data[:300]
        more = f" ...({len(self.data)} long)" if len(self.data) > 300 else ""
        return f"Frame({self.kind}, {self.expect}, {self.note!r}, {data!r}{more})"

    @property
    def size(self) -> int:
        if isinstance(self.data, bytes):
            return len(self.data)
        return len(self.data.encode("utf-8", "surrogatepass"))

    def obj(self):
        """The parsed frame (None when it is not JSON)."""
        try:
            return json.loads(self.data) if self.kind == "text" else None
        except (ValueError, RecursionError):
            return None


def verdict(frame: Frame) -> str | None:
    """The error the room socket's parser must answer, or None when a handler decides.
    The contract: binary -> invalid_frame; over 16 KB (UTF-8 bytes) -> frame_too_large;
    not JSON -> invalid_json; not an object with a string "type" -> invalid_frame; a type
    that is not a client frame -> unknown_type."""
    if frame.kind == "bytes":
        return "invalid_frame"
    if frame.size > MAX_FRAME_CHARS:
        return "frame_too_large"
    try:
        obj = json.loads(frame.data)
    except (ValueError, RecursionError):
        return "invalid_json"
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        return "invalid_frame"
    if obj["type"] not in RoomConsumer.HANDLERS:
        return "unknown_type"
    return None


def refusal_codes(frame: Frame, role: str) -> frozenset[str]:
    """The codes a "refused" frame may get from a sender of `role` (the checks' order:
    login, then moderator rights, then the fields)."""
    obj = frame.obj()
    kind = obj["type"]
    if kind == "chat-message":
        return frozenset({"login_required"} if role == "anonymous" else {"invalid"})
    if kind in MODERATOR_TYPES:
        if role != "seller":
            return frozenset({"permission_denied"})
        if kind in {"mute-user", "ban-user"}:  # a valid id may be the seller's own
            return frozenset({"invalid", "permission_denied"})
        return frozenset({"invalid"})
    if kind == "webrtc-offer":
        return frozenset({"invalid", "invalid_sdp"})
    if kind == "webrtc-ice-candidate":
        return frozenset({"invalid", "no_peer"})
    if kind == "renew-token":  # the fuzzers' seller and viewer sockets opened with tokens
        return frozenset({renewal_code(obj, token_socket=role != "anonymous")})
    return frozenset({"invalid"})  # webrtc-answer


def renewal_code(obj: dict, *, token_socket: bool) -> str:
    """The error a `renew-token` frame that no genuine token of ours is in must get (room
    and notification socket alike): a socket opened without a token has nothing to renew;
    `token` must be a string of 1 to MAX_TOKEN_CHARS characters; any such string that is not
    a valid access token is refused as one."""
    if not token_socket:
        return "not_token_socket"
    token = obj.get("token")
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
        return "invalid"
    return "invalid_token"


def notification_code(frame: "Frame", *, token_socket: bool) -> str:
    """The one error the notification socket answers to `frame` (one of those strategies
    draw; none holds a genuine token): `unknown_type` to anything but a JSON object of type
    `renew-token` within its frame limit (16 KB, counted in characters), which gets
    `renewal_code`."""
    if frame.kind != "text" or len(frame.data) > NOTIFICATION_MAX_FRAME_CHARS:
        return "unknown_type"
    obj = frame.obj()
    if not isinstance(obj, dict) or obj.get("type") != "renew-token":
        return "unknown_type"
    return renewal_code(obj, token_socket=token_socket)


# --- building blocks ----------------------------------------------------------------------
CONTROLS = "\x00\x01\x07\x08\x0b\x1b\x7f\x80\x85\x9f\u200b\u200e\u200f\u202a\u202e\u2066\u2069"
WHITESPACE = " \t\n\r\u3000\xa0"
nasty_chars = st.one_of(
    st.characters(),  # any code point but surrogates
    st.characters(categories=["Cs"]),  # lone surrogates (JSON-escaped or raw)
    st.sampled_from(CONTROLS + WHITESPACE + "\"\\{}[]<>'&%$€𝄞\ufeff\ufffd"),
)
nasty_text = st.text(nasty_chars, max_size=30)
long_text = st.builds(lambda c, n: c * n, nasty_chars, st.integers(400, 2000))
texts = nasty_text | long_text | st.sampled_from(["", " ", "null", "0", "1", "007", "-1", "1e3"])
integers = st.one_of(
    st.integers(-3, 3),
    st.integers(),
    st.integers(-(10**40), 10**40),
    st.sampled_from([2**31, 2**53 + 1, 2**63, 2**64, 10**18, 10**19 - 1, 10**19]),
)
floats = st.floats()  # NaN and the infinities too: Python's json writes and reads them
scalars = st.none() | st.booleans() | integers | floats | texts
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=10,
)
anything = json_values | scalars  # scalars weighted up


def is_id(value) -> bool:
    """What the consumer's `_id_field` takes (an int or a string of 1 to 18 digits)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return False
    return ID_PATTERN.fullmatch(str(value)) is not None


def bad_int(low: int, high: int):
    def bad(value) -> bool:
        return isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high

    edges = st.sampled_from([low - 1, high + 1, float(low), float(high), str(low), True])
    return edges | anything.filter(bad)


ids = st.one_of(st.integers(0, 10**18 - 1), st.integers(0, 10**18 - 1).map(str))
not_ids = st.sampled_from(["", "1 OR 1=1", "-1", "1.0", "٣", "²", "0x1", " 1", "1" * 19]) | (
    anything.filter(lambda v: v is not None and not is_id(v))
)
MISSING = object()


def encoded(obj, ascii_only: bool) -> str:
    return json.dumps(obj, ensure_ascii=ascii_only)


def frame_of(obj, ascii_only: bool, expect: str, note: str = "") -> Frame:
    obj = {k: v for k, v in obj.items() if v is not MISSING} if isinstance(obj, dict) else obj
    return Frame("text", encoded(obj, ascii_only), expect, note)


def json_frames(objects, expect: str, note: str = ""):
    return st.builds(
        lambda obj, ascii_only: frame_of(obj, ascii_only, expect, note), objects, st.booleans()
    )


def typed(type_: str, **fields):
    """A frame object of `type_` whose `fields` are drawn from the given strategies."""
    return st.fixed_dictionaries({"type": st.just(type_), **fields})


def maybe(strategy):
    return strategy | st.just(MISSING)


# --- frames that never reach a handler ----------------------------------------------------
def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return True
    return False


non_json = st.builds(lambda t: Frame("text", t, "parse", "not JSON"), nasty_text).filter(
    lambda f: _not_json(f.data)
) | st.sampled_from(
    [
        Frame("text", t, "parse", "not JSON")
        for t in [
            "",
            "{",
            "}",
            "{'type': 'chat-message'}",
            '{"type": "chat-message",}',
            '{"type": "chat-message" "text": "hi"}',
            "undefined",
            "True",
            '{"type": "chat-message", "text": "\\ud800\\"}',
            '{"type": "chat-message", "text": "\\x41"}',
            '{"type": "chat-message", "text": "a\x00b"}',  # raw control char in a string
            '{"type": "join-room"}{"type": "join-room"}',
            '{"type": "join-room"}\n{"type": "join-room"}',
            '\ufeff{"type": "join-room"}',
            '{"type": "mute-user", "user_id": 1, "minutes": ' + "9" * 5000 + "}",
            '{"type": "slow-mode", "seconds": 1' + "0" * 4400 + "}",
        ]
    ]
)


def _cut(frame: Frame, fraction: float) -> Frame:
    return Frame("text", frame.data[: int(len(frame.data) * fraction)], "parse", "cut short")


not_objects = json_frames(
    st.lists(anything, max_size=4) | scalars, "parse", "JSON, not an object"
) | st.sampled_from(
    [
        Frame("text", t, "parse", "JSON, not an object")
        for t in ["null", "0", "[]", '"chat-message"', '["chat-message", "hi"]', "NaN", "-Infinity"]
    ]
)
no_type = json_frames(
    st.dictionaries(texts.filter(lambda k: k != "type"), anything, max_size=4),
    "parse",
    "object without type",
)
type_not_a_string = json_frames(
    st.fixed_dictionaries(
        {"type": anything.filter(lambda v: not isinstance(v, str))},
        optional={"text": texts, "user_id": ids},
    ),
    "parse",
    "type not a string",
)
TRICKY_TYPES = [
    "chat",
    "CHAT-MESSAGE",
    "chat_message",
    "chat-message ",
    " chat-message",
    "chat-message\x00",
    "chat\u2011message",  # a non-breaking hyphen
    "",
    "room.event",
    "room.kick",
    "_kick",
    "hub_event",
    "hub_lost",
    "media.answer",
    "media_error",
    "websocket.disconnect",
    "websocket.receive",
    "on_chat_message",
    "receive",
    "send_error",
    "HANDLERS",
    "__init__",
    "__class__",
    "constructor",
    "__proto__",
    "\ud800",
    "x" * 5000,
]
unknown_type = json_frames(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(TRICKY_TYPES)
            | texts.filter(lambda t: t not in RoomConsumer.HANDLERS)
        },
        optional={"text": texts, "user_id": anything, "minutes": anything},
    ),
    "parse",
    "unknown type",
)
binary = st.builds(lambda b: Frame("bytes", b, "parse", "binary"), st.binary(max_size=200)) | (
    st.builds(
        lambda obj: Frame("bytes", json.dumps(obj).encode(), "parse", "binary JSON"),
        st.fixed_dictionaries({"type": st.sampled_from(KNOWN_TYPES), "text": texts}),
    )
)


def deep(depth: int, shape: str) -> Frame:
    if shape == "list":
        data = "[" * depth + "]" * depth
    elif shape == "object":
        data = '{"a":' * depth + "0" + "}" * depth
    elif shape == "in-a-field":
        data = '{"type":"chat-message","text":' + "[" * depth + '"x"' + "]" * depth + "}"
    else:  # the type itself
        data = '{"type":' + '{"type":' * depth + '"chat-message"' + "}" * depth + "}"
    return Frame("text", data, "parse" if shape != "in-a-field" else "refused", f"{shape} x{depth}")


# Depths far from the parser's limit (about 1,000 levels less the caller's stack), so the
# verdict never depends on how deep the stack already is.
deep_nesting = st.builds(
    deep,
    st.sampled_from([1, 10, 100, 200, 2000, 3000, 8000, 10_000, 100_000]),
    st.sampled_from(["list", "object", "in-a-field", "type"]),
)


def sized(target: int, char: str, template: str) -> Frame:
    """A frame of exactly `target` UTF-8 bytes (a chat line, an unknown type, or not JSON),
    made of `char` and padded with "x"."""
    if template == "not JSON":
        head, tail = "{", ""
    elif template == "unknown type":
        head, tail = '{"type": "shout", "text": "', '"}'
    else:
        head, tail = '{"type": "chat-message", "text": "', '"}'
    room = target - len(head) - len(tail)
    width = len(char.encode())
    body = char * (room // width)
    body += "x" * (room - len(body.encode()))
    frame = Frame("text", head + body + tail, "parse", f"{template} of {target} bytes")
    assert frame.size == target
    if verdict(frame) is None:  # a chat line too long, but within the frame limit
        frame = Frame("text", frame.data, "refused", frame.note)
    return frame


SIZES = [16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 64 * 1024, 64 * 1024 + 1, 1024 * 1024 + 1]
sized_frames = st.builds(
    sized,
    st.sampled_from(SIZES),
    st.sampled_from(["x", "é", "€", "𝄞"]),
    st.sampled_from(["chat line", "unknown type", "not JSON"]),
)


# --- known types with wrong fields: refused, nothing changes --------------------------------
def _chat_text_bad(value) -> bool:
    if not isinstance(value, str):
        return True
    return not 1 <= len(CONTROL_CHARACTERS.sub("", value).strip()) <= 500


blank_text = st.text(st.sampled_from(CONTROLS + WHITESPACE) | st.characters(categories=["Cs"]))
too_long_text = st.builds(
    lambda c, n, pad: pad + c * n + pad,
    st.sampled_from(["x", "€", "𝄞", "<b>"]),
    st.integers(501, 3000),
    st.text(st.sampled_from(CONTROLS + WHITESPACE), max_size=3),
).filter(_chat_text_bad)
bad_chat_text = blank_text | too_long_text | anything.filter(_chat_text_bad)

# `renew-token` tokens that must never renew: not strings, empty or huge strings, and
# strings that look like JWTs but are not ours (another key, no signature, cut short).
FORGED_CLAIMS = {"token_type": "access", "user_id": 1, "exp": 4102444800, "jti": "f" * 32}
forged_tokens = [
    jwt.encode(FORGED_CLAIMS, "not-the-site-key-but-long-enough-for-hs256", algorithm="HS256"),
    jwt.encode(FORGED_CLAIMS, None, algorithm="none"),
    jwt.encode({**FORGED_CLAIMS, "token_type": "refresh"}, "another-key-long-enough-for-hs256"),
]
bad_tokens = st.one_of(
    anything,
    st.sampled_from(
        forged_tokens
        + [t[: len(t) // 2] for t in forged_tokens]
        + [
            "",
            " ",
            "Bearer x",
            "a.b.c",
            "\ud800",
            "x" * MAX_TOKEN_CHARS,
            "y" * (MAX_TOKEN_CHARS + 1),
        ]
    ),
    st.builds(lambda c, n: c * n, nasty_chars, st.integers(MAX_TOKEN_CHARS - 2, 8000)),
)


refused = st.one_of(
    typed("chat-message", text=maybe(bad_chat_text)),
    typed("spotlight-product", product_id=not_ids),
    typed("delete-message", message_id=maybe(anything)),
    typed("mute-user", user_id=maybe(not_ids), minutes=anything),
    typed("mute-user", user_id=ids, minutes=maybe(bad_int(1, 24 * 60))),
    typed("ban-user", user_id=maybe(not_ids)),
    typed("slow-mode", seconds=maybe(bad_int(0, 3600))),
    typed(
        "webrtc-offer",
        role=maybe(anything.filter(lambda v: v not in ("publish", "view"))),
        sdp=maybe(anything),
    ),
    typed(
        "webrtc-offer",
        role=st.sampled_from(["publish", "view"]),
        sdp=maybe(anything.filter(lambda v: not (isinstance(v, str) and v.startswith("v=0")))),
    ),
    typed("webrtc-answer", sdp=maybe(anything), role=maybe(anything)),
    typed("webrtc-ice-candidate", candidate=maybe(anything)),
    typed("renew-token", token=maybe(bad_tokens)),
)
refused_frames = json_frames(refused, "refused", "wrong fields")


def _delete_id_bad(obj) -> bool:
    value = obj.get("message_id", MISSING)
    return not (isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value))


refused_frames = refused_frames.filter(
    lambda f: (
        f.obj() is not None and (f.obj()["type"] != "delete-message" or _delete_id_bad(f.obj()))
    )
)

# --- known types with arbitrary fields: may work, must never break --------------------------
any_fields = json_frames(
    st.fixed_dictionaries(
        {"type": st.sampled_from(sorted(set(KNOWN_TYPES) - UNSAFE_TYPES))},
        optional={
            "text": texts | anything,
            "product_id": ids | anything,
            "message_id": st.from_regex(r"\A[0-9a-f]{32}\Z") | anything,
            "seconds": st.integers(0, 5) | anything,
            "candidate": anything,
            "role": st.sampled_from(["publish", "view"]) | anything,
            "token": bad_tokens,
        },
    ),
    "any",
    "known type, any fields",
)

room_frames = st.one_of(
    non_json,
    st.builds(_cut, refused_frames | any_fields, st.floats(0, 0.99)).filter(
        lambda f: verdict(f) == "invalid_json"
    ),
    not_objects,
    no_type,
    type_not_a_string,
    unknown_type,
    binary,
    deep_nesting,
    sized_frames,
    refused_frames,  # weighted up: the handlers' field checks are where bugs hide
    refused_frames,
    refused_frames,
    # renew-token on its own too: a token check (and the socket's expiry) is at stake, and
    # among the other types' refused frames it came up a few times in 400.
    json_frames(typed("renew-token", token=maybe(bad_tokens)), "refused", "renew-token"),
    any_fields,
    any_fields,
)


def wire_safe(frame: Frame) -> bool:
    """Whether a real client can send the frame: text frames must be valid UTF-8 (no lone
    surrogates; the in-process tests send those raw too)."""
    if frame.kind == "bytes":
        return True
    try:
        frame.data.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
