"""Every Prometheus metric Quiver exports, in one place. Each role process serves the ones it
moves (plus the process collector's memory and CPU) at `/metrics` on its ops port.

Labels stay bounded: REST routes are the route templates, never raw paths; RPCs are method names.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets from a cached lookup (sub-millisecond) to a slow index build.
_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BUILD_SECONDS = (0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800)

HTTP_REQUESTS = Counter(
    "quiver_http_requests", "REST requests answered by the proxy", ["surface", "method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "quiver_http_request_seconds", "REST request latency", ["surface", "method", "route"], buckets=_SECONDS
)
RPC_REQUESTS = Counter("quiver_rpc_requests", "gRPC calls served", ["method", "code"])
RPC_SECONDS = Histogram("quiver_rpc_seconds", "gRPC call latency, server side", ["method"], buckets=_SECONDS)

ROWS_INSERTED = Counter("quiver_rows_inserted", "rows a data node applied from its channels")
ROWS_DELETED = Counter("quiver_rows_deleted", "deletes a data node applied")
SEGMENTS = Gauge("quiver_segments", "segments a data node holds, by state", ["state"])
ROWS_STORED = Gauge("quiver_rows_stored", "rows a data node holds (deleted ones included until compaction)")
DAMAGED_SEGMENTS = Counter("quiver_damaged_segments", "segments set aside at start-up: their files could not be read")
RESIDENT_BYTES = Gauge("quiver_resident_bytes", "segment data a data node keeps in memory")

INDEX_BUILDS = Counter("quiver_index_builds", "index builds an index node finished", ["outcome"])
INDEX_BUILD_SECONDS = Histogram(
    "quiver_index_build_seconds", "index build: read, build, ship", ["index_type"], buckets=_BUILD_SECONDS
)
INDEX_QUEUE = Gauge("quiver_index_build_queue", "index build tasks queued and not yet acknowledged")

EVENT_LOOP_LAG_SECONDS = Histogram(
    "quiver_event_loop_lag_seconds", "how late a periodic wake-up of the role's event loop ran", buckets=_SECONDS
)

NODES = Gauge("quiver_nodes", "registered nodes, by role and liveness", ["role", "alive"])
COLLECTIONS = Gauge("quiver_collections", "collections in the catalogue")
CHANNELS_UNSERVED = Gauge(
    "quiver_channels_unserved", "shard channels without a live data node consuming them: their reads fail until one does"
)
CHANNEL_MOVES = Counter(
    "quiver_channel_moves",
    "shard channels handed to another data node: theirs was lost (or there was none), or to even out the load",
    ["reason"],
)
LAST_CHANNEL_MOVE = Gauge(
    "quiver_last_channel_move_timestamp_seconds", "when a channel last moved off a lost data node (Unix time)"
)

# The log (NATS JetStream, quiver/log.py).
LOG_PUBLISH_SECONDS = Histogram(
    "quiver_log_publish_seconds", "publish to the log until JetStream acknowledged it, retries included",
    buckets=_SECONDS,
)
LOG_PUBLISH_FAILURES = Counter(
    "quiver_log_publish_failures", "publishes that failed: unavailable (retriable) or rejected", ["reason"]
)
LOG_CONSUMED_MESSAGES = Counter("quiver_log_consumed_messages", "log messages a channel reader handed on")
LOG_CONSUMER_RESETS = Counter(
    "quiver_log_consumer_resets", "channel readers that re-created their JetStream consumer, by cause", ["reason"]
)
STRONG_READS = Counter(
    "quiver_strong_reads",
    "Strong reads a proxy sent to a data node, by how their freshness was made sure of: checked by the "
    "proxy alongside the read (fresh), read again after the check failed (stale), or checked by the "
    "data node before the read (node)",
    ["check"],
)

OBJECT_STORE_REQUESTS = Counter(
    "quiver_object_store_requests", "object store operations, by outcome (ok, not_found, unavailable, error)",
    ["op", "outcome"],
)
OBJECT_STORE_BYTES = Counter("quiver_object_store_bytes", "bytes moved to (put) and from (get) the object store", ["op"])
OBJECT_STORE_SECONDS = Histogram(
    "quiver_object_store_seconds", "object store operation latency, retries included", ["op"], buckets=_SECONDS
)

# Redis, the metadata store (quiver/redisconn.py).
REDIS_UNREPLICATED_WRITES = Counter(
    "quiver_redis_unreplicated_writes",
    "catalogue writes that no Redis replica acknowledged in time (WAIT, under Sentinel): only the primary has them",
)
