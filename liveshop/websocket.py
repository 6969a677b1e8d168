"""The handshake checks every room socket passes before a consumer sees it.

- A browser always sends `Origin`: it must be one of ALLOWED_HOSTS (cross-site WebSocket
  hijacking would otherwise ride on the visitor's session cookie).
- `Authorization: Bearer <access JWT>` (mobile apps) authenticates without cookies; a bad,
  expired or non-access token is refused at the handshake. Such clients need no Origin.
- Otherwise the session cookie authenticates (the website); no Origin and no token: refused.
Refusing before `accept` makes daphne answer the upgrade with HTTP 403.
"""

from urllib.parse import urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.http import is_same_domain
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken


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


@database_sync_to_async
def _user_for_access_token(raw: str):
    try:
        token = AccessToken(raw)  # signature, expiry and token type ("access")
    except TokenError:
        return None
    user_id = token.get(api_settings.USER_ID_CLAIM)
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


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
            user = await _user_for_access_token(raw.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                return await WebsocketDenier()(scope, receive, send)
            return await self.app({**scope, "user": user, "auth": "jwt"}, receive, send)
        if origin is None:
            return await WebsocketDenier()(scope, receive, send)
        return await self.session_app({**scope, "auth": "session"}, receive, send)
