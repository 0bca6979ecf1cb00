"""Redis clients for one server or a Redis Cluster, chosen by settings."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from dongne.config import Settings

RedisClient = aioredis.Redis | RedisCluster


def parse_node(node: str) -> tuple[str, int]:
    host, _, port = node.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"Redis cluster node must be host:port, got {node!r}")
    return host, int(port)


def make_client(
    settings: Settings, redis_url: str, *, timeout_s: float | None, **options: Any
) -> RedisClient:
    """A client for the configured Redis: the cluster when nodes are listed, else the URL."""
    if settings.redis_cluster_nodes:
        nodes = [ClusterNode(*parse_node(n)) for n in settings.redis_cluster_nodes]
        return RedisCluster(
            startup_nodes=nodes,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            # Fail fast: the breaker, not redis-py, decides when to try again.
            retry=Retry(NoBackoff(), 1),
            **options,
        )
    return aioredis.Redis.from_url(
        redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, **options
    )


def pubsub_client(settings: Settings, redis_url: str, attempt: int = 0) -> aioredis.Redis:
    """A plain connection for SUBSCRIBE. In a cluster, PUBLISH reaches every node,
    so any one node serves; ``attempt`` rotates through them after a failure."""
    if settings.redis_cluster_nodes:
        host, port = parse_node(
            settings.redis_cluster_nodes[attempt % len(settings.redis_cluster_nodes)]
        )
        return aioredis.Redis(
            host=host, port=port, socket_connect_timeout=1, health_check_interval=1
        )
    return aioredis.Redis.from_url(redis_url, socket_connect_timeout=1, health_check_interval=1)


async def mget(client: RedisClient, keys: list[str]) -> list[Any]:
    """MGET that also works across cluster slots (one round trip per node)."""
    if isinstance(client, RedisCluster):
        return list(await client.mget_nonatomic(keys))
    return list(await client.mget(keys))


async def ping(client: RedisClient) -> bool:
    """PING; on a cluster every primary must answer (one down fails the check)."""
    if isinstance(client, RedisCluster):
        return bool(await client.ping(target_nodes=RedisCluster.PRIMARIES))
    return bool(await client.ping())


async def info_stats(client: RedisClient) -> list[dict[str, Any]]:
    """INFO stats of the server, or of every cluster primary."""
    if isinstance(client, RedisCluster):
        by_node = await client.info("stats", target_nodes=RedisCluster.PRIMARIES)
        return [dict(v) for v in by_node.values()]
    return [dict(await client.info("stats"))]
