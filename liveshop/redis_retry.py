"""How our Redis clients retry: once, at once, and only when the connection itself failed.

After Redis restarts (or a proxy or NAT resets connections), every connection kept in a pool
is dead, and redis-py finds out only when it next uses it: without a retry, each pooled
connection costs one user an error after every blip (found by tests/test_redis_proxy.py).
A timeout is not retried: the command may have run, and waiting twice as long helps nobody.
"""

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError


def retry_once_on_a_dead_connection() -> Retry:
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
