"""Counting failed logins, per account and per client address, in the shared cache.

The site's login form and the API's token endpoint consult the same counters, so an attacker
cannot switch doors. The answer never says whether the account exists."""

from django.conf import settings
from django.core.cache import cache


class LoginThrottled(Exception):
    def __init__(self, retry_after: int):
        minutes = max(1, round(retry_after / 60))
        super().__init__(
            f"Too many failed login attempts. Try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}."
        )
        self.retry_after = retry_after


def _keys(username: str, ip: str) -> tuple[str, str]:
    return f"login-fail:user:{username.strip().lower()}", f"login-fail:ip:{ip}"


def login_attempt_check(*, username: str, ip: str) -> None:
    """Raise LoginThrottled if this account or address has failed too often lately."""
    account_key, ip_key = _keys(username, ip)
    counts = cache.get_many([account_key, ip_key])
    if (
        counts.get(account_key, 0) >= settings.LOGIN_FAILURES_PER_ACCOUNT
        or counts.get(ip_key, 0) >= settings.LOGIN_FAILURES_PER_IP
    ):
        raise LoginThrottled(settings.LOGIN_FAILURE_WINDOW_SECONDS)


def login_failure_record(*, username: str, ip: str) -> None:
    for key in _keys(username, ip):
        # add() starts the window at the first failure; incr() keeps its expiry.
        cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def login_success_record(*, username: str) -> None:
    account_key, _ = _keys(username, "")
    cache.delete(account_key)


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"
