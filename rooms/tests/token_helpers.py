"""Access tokens for the socket tests of in-band renewal (rooms/tests/test_token_renewal.py,
notifications/tests/test_token_renewal.py): API sign-ins whose access tokens live seconds,
their claims, forgeries, the API logout, and the renewal's frame and expiry on a socket.
A plain module, imported by the tests (no fixtures; it raises AssertionError itself)."""

import asyncio
import base64
import json
import time
from datetime import timedelta

from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tokens import SIGN_IN_CLAIM, RevocableRefreshToken
from liveshop.websocket import CLOSE_SIGNED_OUT


def token_pair(user, *, seconds: float | None = None, sign_in: str | None = None):
    """(access, refresh) of an API sign-in (a new one unless `sign_in` names one: a refresh
    keeps the sign-in), the access token living `seconds` when given (negative: expired)."""
    refresh = RevocableRefreshToken.for_user(user, sign_in=sign_in)
    access = refresh.access_token
    if seconds is not None:
        access.set_exp(lifetime=timedelta(seconds=seconds))
    return str(access), str(refresh)


def expires(access: str) -> int:
    """The token's `exp`: unix seconds."""
    return AccessToken(access, verify=False)["exp"]


def sign_in_of(access: str) -> str:
    return AccessToken(access, verify=False)[SIGN_IN_CLAIM]


def tampered(access: str) -> str:
    """The token with its expiry pushed a day on, the signature left as it was."""
    header, payload, signature = access.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 24 * 3600
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def bearer(token: str) -> list:
    return [(b"authorization", f"Bearer {token}".encode())]


def api_logout(refresh: str) -> None:
    """Log the sign-in out as an app does (its sockets hear it once this returns)."""
    response = Client().post(
        "/api/v1/auth/logout/", {"refresh": refresh}, content_type="application/json"
    )
    if response.status_code != 204:
        raise AssertionError(f"logout answered {response.status_code}: {response.content}")


async def past(when: int) -> None:
    """Wait until `when` (unix seconds) has passed, by a margin."""
    await asyncio.sleep(max(0.0, when - time.time()) + 0.3)


async def renew(socket, token) -> None:
    """Send `renew-token` on a socket (rooms/tests/socket_helpers.Socket)."""
    await socket.send({"type": "renew-token", "token": token})


async def closes_at_expiry(socket, when: int) -> None:
    """The socket is told `token_expired` and closed with 4401, and not before `when` (its
    token's `exp`, unix seconds)."""
    await socket.expect_error("token_expired", timeout=max(0.0, when - time.time()) + 3)
    if time.time() < when - 0.05:
        raise AssertionError(f"{socket.label}: closed before its token expired")
    code = await socket.expect_close()
    if code != CLOSE_SIGNED_OUT:
        raise AssertionError(f"{socket.label}: closed with {code}, not {CLOSE_SIGNED_OUT}")
