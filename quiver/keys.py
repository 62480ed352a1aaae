"""Every Redis key Quiver uses, in one place.

Only the coordinator writes these (index nodes will read the build queue), but for the managed
document indexes section at the end, which only ingest nodes write. Values are readable from
redis-cli: JSON for documents, plain integers for counters.
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

# STRING with a TTL: the id of the coordinator that may write the catalogue (one active; the
# others wait as standbys and take over when it expires).
COORDINATOR_LEASE = f"{PREFIX}:coordinator:lease"

# HASH node id -> JSON of quiver.NodeInfo (its last registration).
NODES = f"{PREFIX}:nodes"
# SET of data node ids being drained: their channels move away, and none moves to them.
DRAINING = f"{PREFIX}:nodes:draining"
# HASH node id -> when its last registration or heartbeat arrived (unix ms).
NODES_SEEN = f"{PREFIX}:nodes:seen"


def collection(collection_id: int) -> str:
    return f"{PREFIX}:collection:{collection_id}"


def collection_segments(collection_id: int) -> str:
    """SET of the collection's segment ids."""
    return f"{PREFIX}:collection:{collection_id}:segments"


def collection_partitions(collection_id: int) -> str:
    """HASH partition name -> JSON {"id", "created_ms"}: the collection's partitions, apart
    from its meta so that adding one of thousands stays cheap."""
    return f"{PREFIX}:collection:{collection_id}:partitions"


def collection_channels(collection_id: int) -> str:
    """HASH shard -> JSON {"node_id", "checkpoint"}: the collection's shard channels in the log,
    the data node that consumes each, and the log sequence up to which what it carried is in
    the object store."""
    return f"{PREFIX}:collection:{collection_id}:channels"


def collection_indexes(collection_id: int) -> str:
    """HASH field name -> JSON of quiver.IndexSpec."""
    return f"{PREFIX}:collection:{collection_id}:indexes"


def segment(segment_id: int) -> str:
    """HASH of one segment: the fields of quiver.SegmentInfo but its id. index_version,
    index_state and index_reason are the build of that index version."""
    return f"{PREFIX}:segment:{segment_id}"


# ZSET object-store key prefix -> when its objects may be deleted (unix ms): the files of dropped
# and compacted segments and of dropped indexes, kept a grace period for readers still on them.
GARBAGE = f"{PREFIX}:garbage"


# STREAM of index build tasks (fields segment_id, index_version), read by the consumer group
# of index nodes; a task stays pending until an index node acknowledges it.
INDEX_TASKS = f"{PREFIX}:index_tasks"
INDEX_TASK_GROUP = "indexnodes"


def node_alive(node_id: str) -> str:
    """STRING with a TTL, refreshed by every heartbeat: present means alive."""
    return f"{PREFIX}:node:{node_id}:alive"


# --- Managed document indexes -----------------------------------------------------------------
# Written only by ingest nodes (ingestnode/store.py); the coordinator never touches these.
# Records are JSON of the dataclasses in ingestnode/models.py. Listings are sorted sets of ids,
# all scored 0 and read in id order: an id starts with its creation time, so that is creation
# order, and a page token (the last id of a page) stays valid while objects come and go.
MANAGED = f"{PREFIX}:managed"

# ZSETs of ids, one per kind of object.
MANAGED_DIRECTORIES = f"{MANAGED}:directories"
MANAGED_FILES = f"{MANAGED}:files"
MANAGED_CONFIGURATIONS = f"{MANAGED}:configurations"
MANAGED_INDEXES = f"{MANAGED}:indexes"

# HASH "<product type>/<name>" -> configuration id: creating a configuration upserts by name.
MANAGED_CONFIGURATION_NAMES = f"{MANAGED}:configuration_names"

# HASH export config id -> index id (retrieval takes either).
MANAGED_EXPORT_CONFIGS = f"{MANAGED}:export_configs"

# HASH sha256 hex of stored bytes -> how many files hold them (the blob goes at 0).
MANAGED_BLOB_REFS = f"{MANAGED}:blob_refs"

# STREAM of sync jobs (fields index_id, job_id), read by the consumer group of ingest nodes; a
# job stays pending until the node running it acknowledges it.
MANAGED_SYNC_QUEUE = f"{MANAGED}:sync_queue"
MANAGED_SYNC_GROUP = "ingestnodes"

# ZSET index id -> epoch ms when a scheduled sync is due (daily, or debounced source changes).
MANAGED_SYNC_SCHEDULE = f"{MANAGED}:sync_schedule"


def managed_record(object_id: str) -> str:
    """STRING: JSON of one directory, directory file, file, configuration or index (ids carry
    their kind as a prefix, so one namespace holds them all)."""
    return f"{MANAGED}:object:{object_id}"


def managed_directory_files(directory_id: str) -> str:
    """ZSET of the directory's file ids, soft-deleted ones included."""
    return f"{MANAGED}:directory:{directory_id}:files"


def managed_directory_unique_ids(directory_id: str) -> str:
    """HASH unique_id -> id of the live directory file that holds it."""
    return f"{MANAGED}:directory:{directory_id}:unique_ids"


def managed_directory_indexes(directory_id: str) -> str:
    """SET of the ids of the indexes over the directory."""
    return f"{MANAGED}:directory:{directory_id}:indexes"


def managed_index_state(index_id: str) -> str:
    """STRING: JSON of the index's build state (its `metadata` and sync times)."""
    return f"{MANAGED}:index:{index_id}:state"


def managed_index_files(index_id: str) -> str:
    """HASH directory file id -> JSON of what the index holds of that file (hashes, chunks)."""
    return f"{MANAGED}:index:{index_id}:files"


def managed_index_job(index_id: str) -> str:
    """HASH: the index's queued or running sync (job_id, state, cancel); absent when idle."""
    return f"{MANAGED}:index:{index_id}:job"


def managed_index_lease(index_id: str) -> str:
    """STRING with a TTL: the run that holds the index's sync, renewed while it runs."""
    return f"{MANAGED}:index:{index_id}:lease"


def managed_attachments(directory_file_id: str) -> str:
    """HASH attachment name -> JSON {size, modified_ms} of the file's stored attachments."""
    return f"{MANAGED}:attachments:{directory_file_id}"
