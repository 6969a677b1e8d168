"""Counting failed logins, per account and per client address, in the shared cache.

The site's login form and the API's token endpoint consult the same counters, so an attacker
cannot switch doors. The answer never says whether the account exists."""

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import ngettext


class LoginThrottled(Exception):
    def __init__(self, retry_after: int):
        minutes = max(1, round(retry_after / 60))
        super().__init__(
            ngettext(
                "Too many failed login attempts. Try again in %(minutes)s minute.",
                "Too many failed login attempts. Try again in %(minutes)s minutes.",
                minutes,
            )
            % {"minutes": minutes}
        )
        self.retry_after = retry_after


def _keys(username: str, ip: str) -> tuple[str, str]:
    return f"login-fail:user:{username.strip().lower()}", f"login-fail:ip:{ip}"


def login_attempt_begin(*, username: str, ip: str) -> None:
    """Count this attempt as failed before the password is even checked, then refuse it if
    the account or the address is over its limit.

    Counting up front (and taking the count back on success) means a burst of parallel
    guesses cannot all pass the check while the first ones are still being hashed."""
    counts = [_increment(key) for key in _keys(username, ip)]
    if (
        counts[0] > settings.LOGIN_FAILURES_PER_ACCOUNT
        or counts[1] > settings.LOGIN_FAILURES_PER_IP
    ):
        raise LoginThrottled(settings.LOGIN_FAILURE_WINDOW_SECONDS)


def login_attempt_succeeded(*, username: str, ip: str) -> None:
    """The password was right: the account starts afresh, the address gets its try back."""
    account_key, ip_key = _keys(username, ip)
    cache.delete(account_key)
    try:
        cache.decr(ip_key)
    except ValueError:  # the window ran out meanwhile
        pass


def login_attempt_withdrawn(*, username: str, ip: str) -> None:
    """The request never got as far as checking a password (e.g. a field was missing)."""
    for key in _keys(username, ip):
        try:
            cache.decr(key)
        except ValueError:
            pass


def _increment(key: str) -> int:
    # add() starts the window at the first attempt; incr() keeps its expiry.
    cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
        return 1


def client_ip(request) -> str:
    """The address the API's per-address limits count too (behind API_TRUSTED_PROXIES
    proxies, the client's; never a forgeable X-Forwarded-For otherwise)."""
    from liveshop.throttling import client_address  # DRF settings load late

    return client_address(request) or "unknown"
