"""Work that must not hold up the request or socket that caused it, such as telling a
seller's 100,000 followers that the show is live.

One worker thread per server process runs such jobs in order, after the transaction that
asked for them commits (a rolled-back go-live notifies nobody). Not on the request's own
thread, for two reasons: the seller's page (or studio socket) answers at once, and daphne
runs all of a process's synchronous Django code on one shared thread, where a minute-long
job would stall every other page and socket of that process.

The queue is in memory: a process that dies mid-job loses the rest of it. Jobs are written
to be re-run safely (idempotent), so nothing is ever done twice.

`settings.BACKGROUND_INLINE` runs jobs at once on the caller's thread, after commit: the
unit tests use it, so their database transaction sees what a job wrote.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections, transaction

logger = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _worker() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liveshop-background")
        return _executor


def _run_logged(job: Callable[[], object], name: str) -> None:
    try:
        job()
    except Exception:
        logger.exception("background job %s failed", name)


def _run_in_worker(job: Callable[[], object], name: str) -> None:
    close_old_connections()
    try:
        _run_logged(job, name)
    finally:
        # The worker thread keeps no connection between jobs (they may be hours apart).
        connections.close_all()


def run_after_commit(job: Callable[[], object], *, name: str) -> None:
    """Run `job()` in the background once the current transaction commits (at once outside
    one). A failing job is logged, never raised: the caller's work already stands."""

    def start() -> Future | None:
        if settings.BACKGROUND_INLINE:
            _run_logged(job, name)
            return None
        return _worker().submit(_run_in_worker, job, name)

    transaction.on_commit(start, robust=True)


def drain(timeout: float = 60.0) -> None:
    """Wait until every job queued so far has run (jobs run in order, so a no-op queued now
    finishes last). For tests, which must not read a database the worker is still writing."""
    if _executor is not None:
        _worker().submit(lambda: None).result(timeout=timeout)
