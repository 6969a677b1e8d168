"""What every WebSocket consumer of ours shares."""

import asyncio
import logging

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CLOSE_SERVICE_RESTART = 1012  # reconnect and take the state afresh
# How often a channel-layer read that ignored its cancellation is cancelled again.
RECANCEL_SECONDS = 0.05


class ChannelLayerLossCloses:
    """Close the socket (1012) when the channel layer's Redis fails under it.

    Channels reads the socket and the consumer's channel side by side; when Redis resets
    the connection, the channel side raises and Channels lets the consumer die, so the
    client saw its connection dropped without a close frame (found by tests/
    test_redis_proxy.py). Here the loss is logged and the socket is closed with the code that
    tells the client to reconnect and resync; the socket's own disconnect then ends the
    consumer as usual.

    It also makes the read end when the socket ends. Channels cancels it when the socket
    disconnects, but on Python 3.11 redis-py can swallow that cancellation: it sends each
    command through `asyncio.wait_for`, which returns normally when the cancel lands just
    as the write finishes (CPython gh-86296, fixed in 3.12). channels_redis then loops on its
    5 s blocking pop for good, and the consumer never returns: a leaked task per unlucky
    disconnect, and half of the deploys (SIGTERM) waited the whole graceful-shutdown limit
    for it (docs/reliability.md, "Shutdown"). So the read runs as its own task: our side
    returns at once when cancelled, and the read is cancelled again until it ends."""

    @property
    def channel_receive(self):
        return self._channel_receive_or_close

    @channel_receive.setter
    def channel_receive(self, receive) -> None:  # Channels sets it in __call__
        self._channel_receive = receive

    async def _channel_receive_or_close(self) -> dict:
        failures = 0
        while True:
            try:
                return await self._receive_until_cancelled()
            except (RedisError, OSError):
                failures += 1
                if failures == 1:
                    continue  # a connection left dead by a reset: a fresh one may do
                if getattr(self, "accepted", False):  # set by the consumer after accept
                    logger.warning("socket lost the channel layer (Redis); closing it")
                    await self.close(code=CLOSE_SERVICE_RESTART)
                    await asyncio.Future()  # nothing more from here; the disconnect ends us
                # Still connecting: its connect decides (it closes with 1013 if Redis is
                # away); closing here, before accept, would refuse the handshake instead.
                await asyncio.sleep(1)

    async def _receive_until_cancelled(self) -> dict:
        receiving = asyncio.ensure_future(self._channel_receive())
        try:
            await asyncio.wait({receiving})
        except asyncio.CancelledError:
            _cancel_until_done(receiving)
            raise
        return receiving.result()


def _cancel_until_done(task: asyncio.Task) -> None:
    if not task.done():
        task.cancel()
        asyncio.get_running_loop().call_later(RECANCEL_SECONDS, _cancel_until_done, task)
    elif not task.cancelled():
        task.exception()  # ended on an error after we stopped waiting: nobody wants it
