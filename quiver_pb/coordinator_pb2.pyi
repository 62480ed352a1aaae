from quiver_pb import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CollectionRef(_message.Message):
    __slots__ = ("name", "id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    id: int
    def __init__(self, name: _Optional[str] = ..., id: _Optional[int] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: _common_pb2.CollectionInfo
    def __init__(self, collection: _Optional[_Union[_common_pb2.CollectionInfo, _Mapping]] = ...) -> None: ...

class CollectionStats(_message.Message):
    __slots__ = ("row_count", "segments", "index_progress")
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    INDEX_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    row_count: int
    segments: _containers.RepeatedCompositeFieldContainer[_common_pb2.SegmentInfo]
    index_progress: IndexProgress
    def __init__(self, row_count: _Optional[int] = ..., segments: _Optional[_Iterable[_Union[_common_pb2.SegmentInfo, _Mapping]]] = ..., index_progress: _Optional[_Union[IndexProgress, _Mapping]] = ...) -> None: ...

class IndexProgress(_message.Message):
    __slots__ = ("total_rows", "indexed_rows", "pending_rows", "state", "fail_reason")
    TOTAL_ROWS_FIELD_NUMBER: _ClassVar[int]
    INDEXED_ROWS_FIELD_NUMBER: _ClassVar[int]
    PENDING_ROWS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAIL_REASON_FIELD_NUMBER: _ClassVar[int]
    total_rows: int
    indexed_rows: int
    pending_rows: int
    state: _common_pb2.IndexState
    fail_reason: str
    def __init__(self, total_rows: _Optional[int] = ..., indexed_rows: _Optional[int] = ..., pending_rows: _Optional[int] = ..., state: _Optional[_Union[_common_pb2.IndexState, str]] = ..., fail_reason: _Optional[str] = ...) -> None: ...

class CollectionReply(_message.Message):
    __slots__ = ("status", "collection", "stats")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    collection: _common_pb2.CollectionInfo
    stats: CollectionStats
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., collection: _Optional[_Union[_common_pb2.CollectionInfo, _Mapping]] = ..., stats: _Optional[_Union[CollectionStats, _Mapping]] = ...) -> None: ...

class ListCollectionsReply(_message.Message):
    __slots__ = ("status", "collections", "row_counts")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNTS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    collections: _containers.RepeatedCompositeFieldContainer[_common_pb2.CollectionInfo]
    row_counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., collections: _Optional[_Iterable[_Union[_common_pb2.CollectionInfo, _Mapping]]] = ..., row_counts: _Optional[_Iterable[int]] = ...) -> None: ...

class RenameRequest(_message.Message):
    __slots__ = ("collection_name", "new_name")
    COLLECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    NEW_NAME_FIELD_NUMBER: _ClassVar[int]
    collection_name: str
    new_name: str
    def __init__(self, collection_name: _Optional[str] = ..., new_name: _Optional[str] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("collection_name", "released")
    COLLECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    collection_name: str
    released: bool
    def __init__(self, collection_name: _Optional[str] = ..., released: _Optional[bool] = ...) -> None: ...

class AliasRequest(_message.Message):
    __slots__ = ("alias", "collection_name")
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    alias: str
    collection_name: str
    def __init__(self, alias: _Optional[str] = ..., collection_name: _Optional[str] = ...) -> None: ...

class AliasesReply(_message.Message):
    __slots__ = ("status", "aliases", "collection_names")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_NAMES_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    aliases: _containers.RepeatedScalarFieldContainer[str]
    collection_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., aliases: _Optional[_Iterable[str]] = ..., collection_names: _Optional[_Iterable[str]] = ...) -> None: ...

class PartitionRequest(_message.Message):
    __slots__ = ("collection_name", "partition_name")
    COLLECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    PARTITION_NAME_FIELD_NUMBER: _ClassVar[int]
    collection_name: str
    partition_name: str
    def __init__(self, collection_name: _Optional[str] = ..., partition_name: _Optional[str] = ...) -> None: ...

class ClaimIdModeRequest(_message.Message):
    __slots__ = ("collection_id", "id_mode")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    ID_MODE_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    id_mode: _common_pb2.IdMode
    def __init__(self, collection_id: _Optional[int] = ..., id_mode: _Optional[_Union[_common_pb2.IdMode, str]] = ...) -> None: ...

class AllocateIdsRequest(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class AllocateIdsReply(_message.Message):
    __slots__ = ("status", "start", "count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    start: int
    count: int
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., start: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class AllocateSegmentRequest(_message.Message):
    __slots__ = ("collection_id", "partition_id", "shard", "node_id")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    partition_id: int
    shard: int
    node_id: str
    def __init__(self, collection_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., shard: _Optional[int] = ..., node_id: _Optional[str] = ...) -> None: ...

class RoutingReply(_message.Message):
    __slots__ = ("status", "collection", "segments", "nodes", "channels")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    collection: _common_pb2.CollectionInfo
    segments: _containers.RepeatedCompositeFieldContainer[_common_pb2.SegmentInfo]
    nodes: _containers.RepeatedCompositeFieldContainer[_common_pb2.NodeInfo]
    channels: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChannelInfo]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., collection: _Optional[_Union[_common_pb2.CollectionInfo, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_common_pb2.SegmentInfo, _Mapping]]] = ..., nodes: _Optional[_Iterable[_Union[_common_pb2.NodeInfo, _Mapping]]] = ..., channels: _Optional[_Iterable[_Union[_common_pb2.ChannelInfo, _Mapping]]] = ...) -> None: ...

class FlushRequest(_message.Message):
    __slots__ = ("collection_names",)
    COLLECTION_NAMES_FIELD_NUMBER: _ClassVar[int]
    collection_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection_names: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterNodeRequest(_message.Message):
    __slots__ = ("node", "segments", "channels")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    node: _common_pb2.NodeInfo
    segments: _containers.RepeatedCompositeFieldContainer[_common_pb2.SegmentInfo]
    channels: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChannelInfo]
    def __init__(self, node: _Optional[_Union[_common_pb2.NodeInfo, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_common_pb2.SegmentInfo, _Mapping]]] = ..., channels: _Optional[_Iterable[_Union[_common_pb2.ChannelInfo, _Mapping]]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("node_id", "role", "segments", "channels")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    role: _common_pb2.NodeRole
    segments: _containers.RepeatedCompositeFieldContainer[_common_pb2.SegmentInfo]
    channels: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChannelInfo]
    def __init__(self, node_id: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.NodeRole, str]] = ..., segments: _Optional[_Iterable[_Union[_common_pb2.SegmentInfo, _Mapping]]] = ..., channels: _Optional[_Iterable[_Union[_common_pb2.ChannelInfo, _Mapping]]] = ...) -> None: ...

class NodeReply(_message.Message):
    __slots__ = ("status", "drop_segment_ids", "register_again", "index_versions", "config", "restore_segments", "channels")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DROP_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    REGISTER_AGAIN_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    RESTORE_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    drop_segment_ids: _containers.RepeatedScalarFieldContainer[int]
    register_again: bool
    index_versions: _containers.RepeatedCompositeFieldContainer[IndexVersion]
    config: _common_pb2.RuntimeConfig
    restore_segments: _containers.RepeatedCompositeFieldContainer[_common_pb2.SegmentInfo]
    channels: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChannelInfo]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., drop_segment_ids: _Optional[_Iterable[int]] = ..., register_again: _Optional[bool] = ..., index_versions: _Optional[_Iterable[_Union[IndexVersion, _Mapping]]] = ..., config: _Optional[_Union[_common_pb2.RuntimeConfig, _Mapping]] = ..., restore_segments: _Optional[_Iterable[_Union[_common_pb2.SegmentInfo, _Mapping]]] = ..., channels: _Optional[_Iterable[_Union[_common_pb2.ChannelInfo, _Mapping]]] = ...) -> None: ...

class IndexVersion(_message.Message):
    __slots__ = ("segment_id", "version")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    version: int
    def __init__(self, segment_id: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class ConfigReply(_message.Message):
    __slots__ = ("status", "config")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    config: _common_pb2.RuntimeConfig
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., config: _Optional[_Union[_common_pb2.RuntimeConfig, _Mapping]] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ("node_id", "undo")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    UNDO_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    undo: bool
    def __init__(self, node_id: _Optional[str] = ..., undo: _Optional[bool] = ...) -> None: ...

class DrainReply(_message.Message):
    __slots__ = ("status", "channels_left")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_LEFT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    channels_left: int
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., channels_left: _Optional[int] = ...) -> None: ...

class ListNodesReply(_message.Message):
    __slots__ = ("status", "nodes")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    nodes: _containers.RepeatedCompositeFieldContainer[_common_pb2.NodeInfo]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., nodes: _Optional[_Iterable[_Union[_common_pb2.NodeInfo, _Mapping]]] = ...) -> None: ...

class SegmentReply(_message.Message):
    __slots__ = ("status", "segment", "collection")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    segment: _common_pb2.SegmentInfo
    collection: _common_pb2.CollectionInfo
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., segment: _Optional[_Union[_common_pb2.SegmentInfo, _Mapping]] = ..., collection: _Optional[_Union[_common_pb2.CollectionInfo, _Mapping]] = ...) -> None: ...

class CatalogEvent(_message.Message):
    __slots__ = ("kind", "collection_id", "collection_name")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_NONE: _ClassVar[CatalogEvent.Kind]
        COLLECTION_CHANGED: _ClassVar[CatalogEvent.Kind]
        NODES_CHANGED: _ClassVar[CatalogEvent.Kind]
        SNAPSHOT: _ClassVar[CatalogEvent.Kind]
    KIND_NONE: CatalogEvent.Kind
    COLLECTION_CHANGED: CatalogEvent.Kind
    NODES_CHANGED: CatalogEvent.Kind
    SNAPSHOT: CatalogEvent.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    kind: CatalogEvent.Kind
    collection_id: int
    collection_name: str
    def __init__(self, kind: _Optional[_Union[CatalogEvent.Kind, str]] = ..., collection_id: _Optional[int] = ..., collection_name: _Optional[str] = ...) -> None: ...

class CreateIndexRequest(_message.Message):
    __slots__ = ("collection_name", "spec", "replace")
    COLLECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    collection_name: str
    spec: _common_pb2.IndexSpec
    replace: bool
    def __init__(self, collection_name: _Optional[str] = ..., spec: _Optional[_Union[_common_pb2.IndexSpec, _Mapping]] = ..., replace: _Optional[bool] = ...) -> None: ...

class DropIndexRequest(_message.Message):
    __slots__ = ("collection_name", "field_name")
    COLLECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    collection_name: str
    field_name: str
    def __init__(self, collection_name: _Optional[str] = ..., field_name: _Optional[str] = ...) -> None: ...

class BuildRef(_message.Message):
    __slots__ = ("segment_id", "index_version", "node_id")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    index_version: int
    node_id: str
    def __init__(self, segment_id: _Optional[int] = ..., index_version: _Optional[int] = ..., node_id: _Optional[str] = ...) -> None: ...

class StartBuildReply(_message.Message):
    __slots__ = ("status", "proceed", "segment", "collection", "spec", "owner")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROCEED_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    proceed: bool
    segment: _common_pb2.SegmentInfo
    collection: _common_pb2.CollectionInfo
    spec: _common_pb2.IndexSpec
    owner: _common_pb2.NodeInfo
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., proceed: _Optional[bool] = ..., segment: _Optional[_Union[_common_pb2.SegmentInfo, _Mapping]] = ..., collection: _Optional[_Union[_common_pb2.CollectionInfo, _Mapping]] = ..., spec: _Optional[_Union[_common_pb2.IndexSpec, _Mapping]] = ..., owner: _Optional[_Union[_common_pb2.NodeInfo, _Mapping]] = ...) -> None: ...

class FinishBuildRequest(_message.Message):
    __slots__ = ("build", "failed", "reason")
    BUILD_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    build: BuildRef
    failed: bool
    reason: str
    def __init__(self, build: _Optional[_Union[BuildRef, _Mapping]] = ..., failed: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class Credentials(_message.Message):
    __slots__ = ("user", "password", "api_key")
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    user: str
    password: str
    api_key: str
    def __init__(self, user: _Optional[str] = ..., password: _Optional[str] = ..., api_key: _Optional[str] = ...) -> None: ...

class AuthReply(_message.Message):
    __slots__ = ("status", "user")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    user: str
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., user: _Optional[str] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: str
    def __init__(self, user: _Optional[str] = ...) -> None: ...

class CreateApiKeyReply(_message.Message):
    __slots__ = ("status", "api_key")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    api_key: str
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., api_key: _Optional[str] = ...) -> None: ...

class UserRequest(_message.Message):
    __slots__ = ("user", "password")
    USER_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    user: str
    password: str
    def __init__(self, user: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class UpdatePasswordRequest(_message.Message):
    __slots__ = ("user", "old_password", "new_password")
    USER_FIELD_NUMBER: _ClassVar[int]
    OLD_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    NEW_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    user: str
    old_password: str
    new_password: str
    def __init__(self, user: _Optional[str] = ..., old_password: _Optional[str] = ..., new_password: _Optional[str] = ...) -> None: ...

class ListUsersReply(_message.Message):
    __slots__ = ("status", "users")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    users: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., users: _Optional[_Iterable[str]] = ...) -> None: ...
