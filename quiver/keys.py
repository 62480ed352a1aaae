"""Every Redis key Quiver uses, in one place.

Only the coordinator writes these (index nodes will read the build queue). Values are
readable from redis-cli: JSON for documents, plain integers for counters.
"""

from __future__ import annotations

PREFIX = "quiver"

# STRING int: the next id the allocator hands out (ids are time-ordered int64).
ID_COUNTER = f"{PREFIX}:ids"

# HASH collection name -> collection id.
COLLECTION_NAMES = f"{PREFIX}:collections"

# HASH alias -> collection id.
ALIASES = f"{PREFIX}:aliases"

# HASH of one collection, fields below (id_mode is absent until the first insert).
COLLECTION_META = "meta"  # JSON of quiver.CollectionInfo, without id_mode, version and partitions
COLLECTION_ID_MODE = "id_mode"  # int IdMode, set once with HSETNX
COLLECTION_VERSION = "version"  # int, bumped on every change that affects routing

# STRING: JSON of quiver.RuntimeConfig, the cluster's runtime settings (absent: defaults).
RUNTIME_CONFIG = f"{PREFIX}:config"

# HASH user name -> "scrypt$<salt hex>$<hash hex>" of the password (never the password).
USERS = f"{PREFIX}:users"
# HASH sha256 hex of an API key -> the user it acts as.
API_KEYS = f"{PREFIX}:api_keys"

# HASH node id -> JSON of quiver.NodeInfo (its last registration).
NODES = f"{PREFIX}:nodes"


def collection(collection_id: int) -> str:
    return f"{PREFIX}:collection:{collection_id}"


def collection_segments(collection_id: int) -> str:
    """SET of the collection's segment ids."""
    return f"{PREFIX}:collection:{collection_id}:segments"


def collection_partitions(collection_id: int) -> str:
    """HASH partition name -> JSON {"id", "created_ms"}: the collection's partitions, apart
    from its meta so that adding one of thousands stays cheap."""
    return f"{PREFIX}:collection:{collection_id}:partitions"


def active_segments(collection_id: int) -> str:
    """HASH partition id -> the growing segment that takes that partition's inserts."""
    return f"{PREFIX}:collection:{collection_id}:active"


def collection_indexes(collection_id: int) -> str:
    """HASH field name -> JSON of quiver.IndexSpec."""
    return f"{PREFIX}:collection:{collection_id}:indexes"


def segment(segment_id: int) -> str:
    """HASH of one segment: the fields of quiver.SegmentInfo but its id. index_version,
    index_state and index_reason are the build of that index version."""
    return f"{PREFIX}:segment:{segment_id}"


# STREAM of index build tasks (fields segment_id, index_version), read by the consumer group
# of index nodes; a task stays pending until an index node acknowledges it.
INDEX_TASKS = f"{PREFIX}:index_tasks"
INDEX_TASK_GROUP = "indexnodes"


def node_alive(node_id: str) -> str:
    """STRING with a TTL, refreshed by every heartbeat: present means alive."""
    return f"{PREFIX}:node:{node_id}:alive"
