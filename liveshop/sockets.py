"""What every WebSocket consumer of ours shares."""

import asyncio
import logging

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CLOSE_SERVICE_RESTART = 1012  # reconnect and take the state afresh


class ChannelLayerLossCloses:
    """Close the socket (1012) when the channel layer's Redis fails under it.

    Channels reads the socket and the consumer's channel side by side; when Redis resets
    the connection, the channel side raises and Channels lets the consumer die, so the
    client saw its connection dropped without a close frame (found by tests/
    test_redis_proxy.py). Here the loss is logged and the socket is closed with the code that
    tells the client to reconnect and resync; the socket's own disconnect then ends the
    consumer as usual."""

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
                return await self._channel_receive()
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
