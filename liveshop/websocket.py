"""The handshake checks every room socket passes before a consumer sees it.

- A browser always sends `Origin`: it must be one of ALLOWED_HOSTS (cross-site WebSocket
  hijacking would otherwise ride on the visitor's session cookie).
- `Authorization: Bearer <access JWT>` (mobile apps) authenticates without cookies; a bad,
  expired or non-access token is refused at the handshake. Such clients need no Origin.
- Otherwise the session cookie authenticates (the website); no Origin and no token: refused.
Refusing before `accept` makes daphne answer the upgrade with HTTP 403.

Signing out reaches open sockets too (docs/realtime.md, close code 4401): the services that
log out or deactivate call `sockets_sign_out_on_commit`, which tells the user's room sockets
through the room hub and the notification sockets through the channel layer; each socket
closes if the sign-out concerns it (`SignOutWatch`). A Bearer token's socket also closes when
its access token expires, unless the client renewed it in band first (`renew-token`, handled
by `SignOutWatch.renew_token`), so an app keeps its socket (and its WebRTC peer) open.
"""

import asyncio
import json
import logging
import time
from urllib.parse import urlparse

from asgiref.sync import async_to_sync
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.http import is_same_domain
from django.utils.translation import gettext as _
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tokens import SIGN_IN_CLAIM, sign_in_revoked, token_password_current
from liveshop.errors import ApplicationError
from notifications.events import user_notifications_group
from rooms.events import room_event_send, run_in_background

logger = logging.getLogger(__name__)

CLOSE_SIGNED_OUT = 4401  # logged out, account deactivated or deleted, or the token expired
MAX_TOKEN_CHARS = 4096  # a `renew-token` token; ours are about 300 characters
# `renew-token` frames whose token is genuine (signed by us, unexpired), per socket and
# seconds: each costs a database read. Forged or malformed ones cost no more than any frame
# (no database) and are not counted. An app renews about every 15 minutes.
RENEW_RATE = (5, 60.0)
# A token socket hears `token-expiring` this long before its token expires: time enough for
# an app to refresh over HTTP and send `renew-token` (at once if less is left).
TOKEN_EXPIRING_NOTICE = 60.0


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def origin_allowed(origin: str) -> bool:
    parsed = urlparse(origin)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        return False  # includes the literal "null" origin of sandboxed pages
    return any(
        pattern == "*" or is_same_domain(parsed.hostname, pattern)
        for pattern in settings.ALLOWED_HOSTS
    )


def _valid_access_token(raw: str) -> AccessToken | None:
    """The token when its signature, expiry and type ("access") hold; no database."""
    if not raw.isascii():  # a JWT is base64url and dots; PyJWT raises on lone surrogates
        return None
    try:
        return AccessToken(raw)
    except TokenError:
        return None


def _token_user(token: AccessToken):
    """The active account `token` names, unless its sign-in was logged out (accounts.tokens:
    the `sid` claim) or its password changed since (the `pwv` claim); else None. Reads the
    database: call it in a thread."""
    user_id = token.get(api_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not token_password_current(token, user):
        return None
    if sign_in_revoked(token.get(SIGN_IN_CLAIM)):
        return None
    return user


@database_sync_to_async
def _user_for_access_token(raw: str):
    """(user, token) for a valid access token of an active account whose sign-in was not
    logged out nor its password changed since, else None. The handshake's check;
    `renew-token` makes the same two."""
    token = _valid_access_token(raw)
    user = None if token is None else _token_user(token)
    return None if user is None else (user, token)


class SocketGatekeeper:
    def __init__(self, app):
        self.app = app
        self.session_app = AuthMiddlewareStack(app)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        origin = _header(scope, b"origin")
        if origin is not None and not origin_allowed(origin):
            return await WebsocketDenier()(scope, receive, send)
        # The server's own send, for the room hub's broadcasts (rooms/hub.py): the session
        # middleware's wrapper only acts on handshake messages, yet costs every frame.
        scope = {**scope, "liveshop.server_send": send}
        authorization = _header(scope, b"authorization")
        if authorization is not None:
            scheme, _, raw = authorization.partition(" ")
            found = (
                await _user_for_access_token(raw.strip()) if scheme.lower() == "bearer" else None
            )
            if found is None:
                return await WebsocketDenier()(scope, receive, send)
            user, token = found
            scope = {
                **scope,
                "user": user,
                "auth": "jwt",
                "auth_expires": token["exp"],  # the socket closes then (SignOutWatch)
                "auth_sign_in": token.get(SIGN_IN_CLAIM),
            }
            return await self.app(scope, receive, send)
        if origin is None:
            return await WebsocketDenier()(scope, receive, send)
        return await self.session_app({**scope, "auth": "session"}, receive, send)


# --- signing out open sockets ----------------------------------------------------------------


def user_sockets_group(user_id) -> str:
    """Every signed-in room socket of one user, in every room: a room-hub group (rooms/hub.py)
    of the pseudo-room "signout" (no room id has those letters). Joining it on connect is a
    set insertion; each server process subscribes to that pseudo-room once, not per socket.
    The notification sockets hear sign-outs through their own channel-layer group."""
    return f"room-signout-user-{user_id}"


async def sockets_sign_out(
    user_id, *, session_key: str | None = None, sign_in: str | None = None
) -> None:
    """Close the user's open sockets (room and notifications) with CLOSE_SIGNED_OUT: those of
    one website session (`session_key`), of one API sign-in (`sign_in`), or all of them."""
    which = {"session": session_key, "sign_in": sign_in}
    failed = None
    try:
        await room_event_send(user_sockets_group(user_id), {"type": "_signout", **which})
    except Exception as exc:  # still tell the notification sockets
        failed = exc
    await get_channel_layer().group_send(
        user_notifications_group(user_id), {"type": "auth.revoked", **which}
    )
    if failed is not None:
        raise failed


def sockets_sign_out_on_commit(user_id, **which) -> None:
    """`sockets_sign_out` once the surrounding transaction commits (at once outside one).
    Redis being away costs the notice, never the sign-out itself: the socket is refused at
    its next handshake, and an access token's socket still closes when the token expires."""

    def send() -> None:
        try:
            async_to_sync(sockets_sign_out)(user_id, **which)
        except Exception:
            logger.warning(
                "open sockets of user %s not told of the sign-out", user_id, exc_info=True
            )

    transaction.on_commit(send)


class TokenRenewalRefused(ApplicationError):
    """A `renew-token` frame turned down (its `code` and `message` go out in the socket's
    error frame); the socket's token, sign-in and expiry stay as they were."""


def _renewal_refused(code: str) -> TokenRenewalRefused:
    messages = {
        "not_token_socket": _(
            "This socket was not opened with an access token: there is nothing to renew."
        ),
        "login_required": _("This socket is closing: you were signed out or its token expired."),
        "invalid": _("`token` must be an access token: a string of 1 to %(max)s characters.")
        % {"max": MAX_TOKEN_CHARS},
        "invalid_token": _(
            "That is not a valid access token (expired, logged out, or not an access token)."
        ),
        "wrong_user": _("That access token belongs to another account than this socket's."),
        "rate_limited": _("At most %(limit)s token renewals per %(window).0f s.")
        % {"limit": RENEW_RATE[0], "window": RENEW_RATE[1]},
    }
    return TokenRenewalRefused(messages[code], code=code)


class SignOutWatch:
    """For consumers of signed-in users: close with CLOSE_SIGNED_OUT when the user signs out,
    heard as the room hub's `_signout` event (room sockets: `hub_signout`) or the channel-layer
    message `auth.revoked` (notification sockets), and, for a Bearer token socket, when its
    access token expires (`sign_out_watch()` once the socket's first message is sent,
    `sign_out_unwatch()` on disconnect). After the sign-out is heard, `signed_out` is true:
    frames still read before the close takes effect must be refused.

    A token socket hears `token-expiring` TOKEN_EXPIRING_NOTICE seconds before its token
    expires, and may renew it in band: a consumer hands its `renew-token` frames to
    `renew_token` (which answers `token-renewed`) and turns a TokenRenewalRefused into the
    socket's error frame."""

    signed_out = False
    _sign_out_closing = False
    _expiry_timer: asyncio.TimerHandle | None = None
    _expiring_timer: asyncio.TimerHandle | None = None
    # The sign-in of a renewal whose token is being checked in the database, and whether a
    # logout of that sign-in was heard meanwhile (room sockets hear sign-outs from the hub
    # while a frame is being handled; that logout must not be missed).
    _renewing_sign_in: str | None = None
    _renewing_revoked = False
    _renewals: tuple[float, ...] = ()  # when this socket's recent genuine renewals came

    def sign_out_watch(self) -> None:
        self._arm_expiry()

    def sign_out_unwatch(self) -> None:
        self._disarm_expiry()

    def _arm_expiry(self) -> None:
        """(Re)start the timers of the socket's token (none for a session socket): the
        `token-expiring` notice, then the close at `auth_expires`."""
        self._disarm_expiry()
        expires = self.scope.get("auth_expires")
        if expires is None:
            return
        loop = asyncio.get_running_loop()
        left = expires - time.time()
        if left > 0:
            self._expiring_timer = loop.call_later(
                max(0.0, left - TOKEN_EXPIRING_NOTICE),
                lambda: run_in_background(self._token_expiring(expires)),
            )
        self._expiry_timer = loop.call_later(
            max(0.0, left), lambda: run_in_background(self.sign_out_close(expired=True))
        )

    def _disarm_expiry(self) -> None:
        for timer in (self._expiring_timer, self._expiry_timer):
            if timer is not None:
                timer.cancel()
        self._expiring_timer = self._expiry_timer = None

    async def _token_expiring(self, expires: int) -> None:
        if self._sign_out_closing:
            return
        try:
            await self.send(text_data=json.dumps({"type": "token-expiring", "expires": expires}))
        except Exception:  # the socket went away meanwhile
            logger.debug("token-expiring for a socket already gone", exc_info=True)

    async def renew_token(self, frame: dict) -> None:
        """A `renew-token` frame: the new access token must pass the handshake's checks
        (signature, expiry, type "access", an active account, a sign-in not logged out) and
        name this socket's user. Then the socket closes at that token's expiry instead, and
        belongs to that token's sign-in (a logout of it closes the socket, one of the old
        sign-in no longer does), and `token-renewed` is sent. Else TokenRenewalRefused is
        raised, and nothing changed."""
        if self.scope.get("auth") != "jwt":
            raise _renewal_refused("not_token_socket")  # a session has no expiry to push
        if self.signed_out:
            raise _renewal_refused("login_required")
        raw = frame.get("token")
        if not isinstance(raw, str) or not 0 < len(raw) <= MAX_TOKEN_CHARS:
            raise _renewal_refused("invalid")
        # Forged, tampered, expired or refresh tokens stop here, before the rate limit and
        # without the database: a signature check costs no more than parsing the frame.
        token = _valid_access_token(raw)
        if token is None:
            raise _renewal_refused("invalid_token")
        self._renewal_count()
        self._renewing_sign_in, self._renewing_revoked = token.get(SIGN_IN_CLAIM), False
        try:
            user = await database_sync_to_async(_token_user)(token)
            revoked_meanwhile = self._renewing_revoked
        finally:
            self._renewing_sign_in = None
        if user is None or revoked_meanwhile:
            raise _renewal_refused("invalid_token")
        if user.pk != self.scope["user"].pk:
            raise _renewal_refused("wrong_user")
        if self.signed_out:  # signed out, or the old token expired, while we checked
            raise _renewal_refused("login_required")
        self._disarm_expiry()
        self.scope["auth_expires"] = token["exp"]
        self.scope["auth_sign_in"] = token.get(SIGN_IN_CLAIM)
        try:
            await self.send(
                text_data=json.dumps({"type": "token-renewed", "expires": token["exp"]})
            )
        finally:
            # Armed after the answer went out: a `token-expiring` the new token already
            # calls for (less than the notice left) comes after `token-renewed`, not before.
            self._arm_expiry()

    def _renewal_count(self) -> None:
        """Count a genuine renewal against RENEW_RATE (per socket: kept on the socket)."""
        limit, window = RENEW_RATE
        now = time.monotonic()
        recent = tuple(t for t in self._renewals if now - t < window)
        if len(recent) >= limit:
            self._renewals = recent
            raise _renewal_refused("rate_limited")
        self._renewals = (*recent, now)

    def sign_out_concerns_me(self, message: dict) -> bool:
        session_key, sign_in = message.get("session"), message.get("sign_in")
        if session_key is None and sign_in is None:
            return True  # the account: every socket
        if session_key is not None:
            session = self.scope.get("session")
            is_session = self.scope.get("auth") == "session" and session is not None
            return is_session and session.session_key == session_key
        if sign_in == self._renewing_sign_in:
            self._renewing_revoked = True  # the renewal under way is refused
        return self.scope.get("auth") == "jwt" and self.scope.get("auth_sign_in") == sign_in

    def hub_signout(self, text: str) -> None:
        """The room hub's `_signout` (delivered where no await may wait: closes in the
        background)."""
        if self.sign_out_concerns_me(json.loads(text)):
            self.signed_out = True
            run_in_background(self.sign_out_close())

    async def auth_revoked(self, message: dict) -> None:
        if self.sign_out_concerns_me(message):
            await self.sign_out_close()

    async def sign_out_close(self, *, expired: bool = False) -> None:
        if self._sign_out_closing:
            return
        self._disarm_expiry()
        self._sign_out_closing = self.signed_out = True
        code, message = (
            ("token_expired", _("Your access token has expired; reconnect with a fresh one."))
            if expired
            else (
                "signed_out",
                _("You were signed out: your session or account is no longer valid."),
            )
        )
        try:
            await self.send(
                text_data=json.dumps({"type": "error", "code": code, "message": message})
            )
            await self.close(code=CLOSE_SIGNED_OUT)
        except Exception:  # the socket went away meanwhile
            logger.debug("signed-out socket already gone", exc_info=True)
