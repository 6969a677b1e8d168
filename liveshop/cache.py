"""The shared cache (Redis) that a Redis outage cannot turn into 500s (issue 9, "Faults").

What the cache holds here is counters and scratch: API throttles, failed-login counts, the
health check. None of it is a record of anything (sessions live in the database, see
SESSION_ENGINE), so losing Redis for a while must cost precision, not pages:

- each call gets a short socket timeout (OPTIONS REDIS_TIMEOUT_SECONDS in CACHES), so a slow
  or dead Redis cannot hold a request for redis-py's default 5 s or more;
- a call that fails goes to a cache in this process's memory instead, and for the next
  RETRY_SECONDS every call does, without trying Redis (a dead server would otherwise
  cost every request a connect timeout). Throttles and login limits keep counting, per
  process rather than site-wide, until Redis answers again;
- the outage and the recovery are logged once each, not once per request.

After the outage, Redis still holds the values written before it: counters with their own
expiry, which is harmless.
"""

import logging
import threading
import time

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_OPERATIONS = "add get set touch delete get_many has_key incr set_many delete_many clear".split()


class _Outage:
    """Whether one Redis is known to be away. Shared by every instance of the backend for
    that location: Django makes one instance per thread and per request context, so state
    kept on the instance would be forgotten from one request to the next."""

    def __init__(self):
        self.lock = threading.Lock()
        self.down_until = 0.0  # monotonic time before which Redis is not tried again


_outages: dict[str, _Outage] = {}
_clients: dict[str, object] = {}  # location -> Django's RedisCacheClient
_outages_lock = threading.Lock()


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params):
        params = dict(params)
        options = dict(params.get("OPTIONS", {}))
        self.retry_seconds = options.pop("RETRY_SECONDS", 5.0)
        timeout = options.pop("REDIS_TIMEOUT_SECONDS", 0.5)
        options.setdefault("socket_connect_timeout", timeout)
        options.setdefault("socket_timeout", timeout)
        params["OPTIONS"] = options
        super().__init__(server, params)
        location = str(server)
        # LocMemCache shares its storage between instances of the same name.
        self.fallback = LocMemCache(f"redis-fallback:{location}", {**params, "OPTIONS": {}})
        with _outages_lock:
            self.outage = _outages.setdefault(location, _Outage())
            # One client (and connection pool) per location for the process. Django's own
            # RedisCache makes one per instance, that is per request context under ASGI: a
            # new Redis connection for every request's throttle check.
            self._shared_client = _clients.get(location)
            if self._shared_client is None:
                self._shared_client = _clients[location] = self._class(
                    self._servers, **self._options
                )

    @property
    def _cache(self):
        return self._shared_client

    def available(self) -> bool:
        """Whether Redis answers now (for the health check; never served from the fallback)."""
        try:
            self._cache.get_client(None, write=False).ping()
        except (RedisError, OSError):
            return False
        return True

    def _call(self, name: str, *args, **kwargs):
        if time.monotonic() >= self.outage.down_until:
            try:
                result = getattr(super(), name)(*args, **kwargs)
            except (RedisError, OSError) as exc:
                self._went_down(exc)
            else:
                if self.outage.down_until:
                    self._came_back()
                return result
        return getattr(self.fallback, name)(*args, **kwargs)

    def _went_down(self, exc: Exception) -> None:
        with self.outage.lock:
            first = self.outage.down_until == 0.0
            self.outage.down_until = time.monotonic() + self.retry_seconds
        if first:
            logger.error(
                "cache: Redis unavailable (%s); counting in this process's memory meanwhile",
                exc.__class__.__name__,
            )

    def _came_back(self) -> None:
        with self.outage.lock:
            self.outage.down_until = 0.0
        logger.warning("cache: Redis answers again")


def _delegating(name: str):
    def method(self, *args, **kwargs):
        return self._call(name, *args, **kwargs)

    method.__name__ = name
    return method


for _name in _OPERATIONS:
    setattr(ResilientRedisCache, _name, _delegating(_name))
