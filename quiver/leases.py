"""Leases in Redis: a key that names its holder and expires unless the holder renews it. The
active coordinator holds one; each managed index's running sync holds one."""

from __future__ import annotations

from redis.asyncio import Redis

# Takes lease KEYS[1] for ARGV[1] for ARGV[2] ms if it is free or already ARGV[1]'s.
_TAKE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# Releases lease KEYS[1] if ARGV[1] holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leases:
    def __init__(self, redis: Redis) -> None:
        self._take = redis.register_script(_TAKE)
        self._release = redis.register_script(_RELEASE)

    async def take(self, key: str, holder: str, ttl_ms: int) -> bool:
        return bool(await self._take(keys=[key], args=[holder, ttl_ms]))

    async def renew(self, key: str, holder: str, ttl_ms: int) -> bool:
        """Extends the holder's lease; False once another holder has it. A lease that is gone
        is taken back: Redis restarted from an append-only file written before the last
        renewal has none, and nobody else holds it."""
        return await self.take(key, holder, ttl_ms)

    async def release(self, key: str, holder: str) -> None:
        await self._release(keys=[key], args=[holder])
