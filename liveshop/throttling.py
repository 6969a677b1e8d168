"""API request throttling: how many requests a visitor's address or a user may make.

Four counters, each a sliding window kept in the cache (shared by every daphne process when
REDIS_URL is set); the rates are settings.API_THROTTLE_RATES. A request over any one of them
answers 429 "throttled" with Retry-After in whole seconds (liveshop/api.py renders it). The
client's address is the connection's unless settings.API_TRUSTED_PROXIES says how many
proxies append to X-Forwarded-For (DRF's NUM_PROXIES): by default a client cannot dodge its
limit by forging that header.

A module of its own because REST_FRAMEWORK names these classes: DRF imports them while
rest_framework.views is still loading, so this module must not import views (or liveshop.api).
"""

import math

from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

# Routes that hand out credentials, limited per address on top of everything else (failed
# logins have their own per-account counters too: accounts/login_throttle.py).
AUTH_THROTTLED_ROUTES = frozenset({"api:api-register", "api:api-token", "api:api-token-refresh"})


def client_address(request) -> str:
    """The client's address as these limits count it: the connection's, or with
    API_TRUSTED_PROXIES the one the nearest trusted proxy put in X-Forwarded-For. Works on a
    plain Django request too, for counters outside DRF (failed logins, say)."""
    return BaseThrottle().get_ident(request)


class _ScopedRateThrottle(SimpleRateThrottle):
    scope: str

    def get_rate(self) -> str | None:
        # Looked up per request: DRF copies the rates once at import, which would pin them
        # for the life of the process (and ignore a test's override_settings).
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def wait(self) -> float | None:
        # Retry-After is written as a whole number: round up, so a client that waits exactly
        # that long is let in, and never answer "Retry-After: 0".
        wait = super().wait()
        return None if wait is None else max(1, math.ceil(wait))

    def key_for(self, ident: str) -> str:
        return self.cache_format % {"scope": self.scope, "ident": ident}

    @staticmethod
    def signed_in(request) -> bool:
        return bool(request.user and request.user.is_authenticated)


class AnonReadRateThrottle(_ScopedRateThrottle):
    """Reads (GET, HEAD, OPTIONS) by visitors, per client address."""

    scope = "anon"

    def get_cache_key(self, request, view) -> str | None:
        if request.method not in SAFE_METHODS or self.signed_in(request):
            return None
        return self.key_for(self.get_ident(request))


class UserReadRateThrottle(_ScopedRateThrottle):
    """Reads by a signed-in user, per user wherever they connect from."""

    scope = "user"

    def get_cache_key(self, request, view) -> str | None:
        if request.method in SAFE_METHODS and self.signed_in(request):
            return self.key_for(f"user-{request.user.pk}")
        return None


class WriteRateThrottle(_ScopedRateThrottle):
    """POST, PUT, PATCH, DELETE: per user when signed in, else per client address."""

    scope = "write"

    def get_cache_key(self, request, view) -> str | None:
        if request.method in SAFE_METHODS:
            return None
        if self.signed_in(request):
            return self.key_for(f"user-{request.user.pk}")
        return self.key_for(f"ip-{self.get_ident(request)}")


class AuthRateThrottle(_ScopedRateThrottle):
    """Register, log in, refresh: per client address, signed in or not."""

    scope = "auth"

    def get_cache_key(self, request, view) -> str | None:
        match = getattr(request, "resolver_match", None)
        if match is None or match.view_name not in AUTH_THROTTLED_ROUTES:
            return None
        return self.key_for(self.get_ident(request))
