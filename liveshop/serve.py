"""The web server, as production, `make run` and the tests start it:

    python -m liveshop.serve --host 0.0.0.0 --port 8000

uvicorn with uvloop, httptools and the `websockets` library's sans-I/O protocol. Chosen over
daphne by measurement (issue 8, bench/README.md): with the same app, Redis and load, the
room fan-out costs about half the CPU per delivered frame (2,000 viewers x 20 chat lines/s:
0.33 core against 0.65, p99 226 ms against 671 ms) and pages are served faster.

Its `send` waits (`await self.writable.wait()`) while a socket's write buffer is full
(about 2.8 MB unread: the client stopped reading); daphne buffers without bound instead. The
room hub never waits for a socket (rooms/hub.py, "Slow readers"): such a socket is dropped
and closed with 4408, so one stalled client delays nobody else.

The worker count and the proxies trusted for X-Forwarded-For/-Proto come from settings
(`WEB_WORKERS`, `WEB_FORWARDED_ALLOW_IPS`). Several workers need Redis: without it each
process would keep rooms, sessions and the cache to itself.
"""

import argparse
import copy
import logging
import os
import sys

# uvicorn's words when a client sends a text frame that is not UTF-8: it closes that socket
# with 1007, as it should, but logs the client's mistake as an ERROR with a traceback.
UVICORN_NOT_UTF8 = "Invalid UTF-8 sequence received from client."


class ClientMistakesAreNotErrors(logging.Filter):
    """Log uvicorn's invalid-UTF-8 report as one INFO line: a bad client is not a server
    error, and a traceback per bad frame let any client flood the error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == UVICORN_NOT_UTF8:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "A client sent a text frame that is not UTF-8: closed it (1007)."
            record.exc_info = record.exc_text = None
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def log_config() -> dict:
    """uvicorn's own logging, with the filter above."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["client_mistakes"] = {"()": ClientMistakesAreNotErrors}
    config["loggers"]["uvicorn.error"]["filters"] = ["client_mistakes"]
    return config


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liveshop.settings")
    from django.conf import settings

    parser = argparse.ArgumentParser(prog="python -m liveshop.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if settings.WEB_WORKERS > 1 and not settings.REDIS_URL:
        sys.exit("WEB_WORKERS > 1 needs REDIS_URL: processes share rooms through Redis.")

    import uvicorn

    uvicorn.run(
        "liveshop.asgi:application",
        host=args.host,
        port=args.port,
        workers=settings.WEB_WORKERS,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        lifespan="off",  # Django has no lifespan handlers
        proxy_headers=True,
        forwarded_allow_ips=settings.WEB_FORWARDED_ALLOW_IPS,
        server_header=False,
        # Room frames are refused above 16 KB by the consumer, with an error the client
        # can read; far larger ones are cut here before they are buffered (close 1009).
        ws_max_size=1024 * 1024,
        log_level="info" if settings.DEBUG else "warning",
        log_config=log_config(),
        # A deploy's SIGTERM: open sockets get this long to finish, then they are cut and
        # their clients reconnect (to another process) by themselves.
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
