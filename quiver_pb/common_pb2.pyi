from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DataType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_TYPE_NONE: _ClassVar[DataType]
    BOOL: _ClassVar[DataType]
    INT8: _ClassVar[DataType]
    INT16: _ClassVar[DataType]
    INT32: _ClassVar[DataType]
    INT64: _ClassVar[DataType]
    FLOAT: _ClassVar[DataType]
    DOUBLE: _ClassVar[DataType]
    VARCHAR: _ClassVar[DataType]
    ARRAY: _ClassVar[DataType]
    JSON: _ClassVar[DataType]
    BINARY_VECTOR: _ClassVar[DataType]
    FLOAT_VECTOR: _ClassVar[DataType]

class IdMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ID_MODE_UNSET: _ClassVar[IdMode]
    ID_MODE_AUTO: _ClassVar[IdMode]
    ID_MODE_USER: _ClassVar[IdMode]

class SegmentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEGMENT_STATE_NONE: _ClassVar[SegmentState]
    GROWING: _ClassVar[SegmentState]
    SEALED: _ClassVar[SegmentState]
    FLUSHED: _ClassVar[SegmentState]

class IndexState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INDEX_STATE_NONE: _ClassVar[IndexState]
    QUEUED: _ClassVar[IndexState]
    BUILDING: _ClassVar[IndexState]
    FINISHED: _ClassVar[IndexState]
    FAILED: _ClassVar[IndexState]

class Consistency(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSISTENCY_DEFAULT: _ClassVar[Consistency]
    STRONG: _ClassVar[Consistency]
    BOUNDED: _ClassVar[Consistency]
    SESSION: _ClassVar[Consistency]
    EVENTUALLY: _ClassVar[Consistency]

class NodeRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_ROLE_NONE: _ClassVar[NodeRole]
    DATA_NODE: _ClassVar[NodeRole]
    INDEX_NODE: _ClassVar[NodeRole]
DATA_TYPE_NONE: DataType
BOOL: DataType
INT8: DataType
INT16: DataType
INT32: DataType
INT64: DataType
FLOAT: DataType
DOUBLE: DataType
VARCHAR: DataType
ARRAY: DataType
JSON: DataType
BINARY_VECTOR: DataType
FLOAT_VECTOR: DataType
ID_MODE_UNSET: IdMode
ID_MODE_AUTO: IdMode
ID_MODE_USER: IdMode
SEGMENT_STATE_NONE: SegmentState
GROWING: SegmentState
SEALED: SegmentState
FLUSHED: SegmentState
INDEX_STATE_NONE: IndexState
QUEUED: IndexState
BUILDING: IndexState
FINISHED: IndexState
FAILED: IndexState
CONSISTENCY_DEFAULT: Consistency
STRONG: Consistency
BOUNDED: Consistency
SESSION: Consistency
EVENTUALLY: Consistency
NODE_ROLE_NONE: NodeRole
DATA_NODE: NodeRole
INDEX_NODE: NodeRole

class Status(_message.Message):
    __slots__ = ("code", "reason", "retriable")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RETRIABLE_FIELD_NUMBER: _ClassVar[int]
    code: int
    reason: str
    retriable: bool
    def __init__(self, code: _Optional[int] = ..., reason: _Optional[str] = ..., retriable: _Optional[bool] = ...) -> None: ...

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusReply(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: Status
    def __init__(self, status: _Optional[_Union[Status, _Mapping]] = ...) -> None: ...

class FieldSchema(_message.Message):
    __slots__ = ("name", "data_type", "is_primary", "dim", "max_length", "element_type", "max_capacity", "auto_id", "nullable", "description", "field_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    IS_PRIMARY_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MAX_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    AUTO_ID_FIELD_NUMBER: _ClassVar[int]
    NULLABLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    data_type: DataType
    is_primary: bool
    dim: int
    max_length: int
    element_type: DataType
    max_capacity: int
    auto_id: bool
    nullable: bool
    description: str
    field_id: int
    def __init__(self, name: _Optional[str] = ..., data_type: _Optional[_Union[DataType, str]] = ..., is_primary: _Optional[bool] = ..., dim: _Optional[int] = ..., max_length: _Optional[int] = ..., element_type: _Optional[_Union[DataType, str]] = ..., max_capacity: _Optional[int] = ..., auto_id: _Optional[bool] = ..., nullable: _Optional[bool] = ..., description: _Optional[str] = ..., field_id: _Optional[int] = ...) -> None: ...

class PartitionInfo(_message.Message):
    __slots__ = ("id", "name", "created_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    created_ms: int
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., created_ms: _Optional[int] = ...) -> None: ...

class IndexSpec(_message.Message):
    __slots__ = ("index_name", "field_name", "index_type", "metric_type", "params_json", "version", "dialect_name", "created_ms", "client_params_json")
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    INDEX_TYPE_FIELD_NUMBER: _ClassVar[int]
    METRIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIALECT_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    index_name: str
    field_name: str
    index_type: str
    metric_type: str
    params_json: str
    version: int
    dialect_name: str
    created_ms: int
    client_params_json: str
    def __init__(self, index_name: _Optional[str] = ..., field_name: _Optional[str] = ..., index_type: _Optional[str] = ..., metric_type: _Optional[str] = ..., params_json: _Optional[str] = ..., version: _Optional[int] = ..., dialect_name: _Optional[str] = ..., created_ms: _Optional[int] = ..., client_params_json: _Optional[str] = ...) -> None: ...

class CollectionInfo(_message.Message):
    __slots__ = ("id", "name", "fields", "metric_type", "index_file_size_mb", "created_ms", "id_mode", "version", "partitions", "indexes", "enable_dynamic_field", "description", "consistency_level", "released", "aliases", "shards_num")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    METRIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FILE_SIZE_MB_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    ID_MODE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    ENABLE_DYNAMIC_FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_LEVEL_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    SHARDS_NUM_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    fields: _containers.RepeatedCompositeFieldContainer[FieldSchema]
    metric_type: str
    index_file_size_mb: int
    created_ms: int
    id_mode: IdMode
    version: int
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionInfo]
    indexes: _containers.RepeatedCompositeFieldContainer[IndexSpec]
    enable_dynamic_field: bool
    description: str
    consistency_level: str
    released: bool
    aliases: _containers.RepeatedScalarFieldContainer[str]
    shards_num: int
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[FieldSchema, _Mapping]]] = ..., metric_type: _Optional[str] = ..., index_file_size_mb: _Optional[int] = ..., created_ms: _Optional[int] = ..., id_mode: _Optional[_Union[IdMode, str]] = ..., version: _Optional[int] = ..., partitions: _Optional[_Iterable[_Union[PartitionInfo, _Mapping]]] = ..., indexes: _Optional[_Iterable[_Union[IndexSpec, _Mapping]]] = ..., enable_dynamic_field: _Optional[bool] = ..., description: _Optional[str] = ..., consistency_level: _Optional[str] = ..., released: _Optional[bool] = ..., aliases: _Optional[_Iterable[str]] = ..., shards_num: _Optional[int] = ...) -> None: ...

class SegmentInfo(_message.Message):
    __slots__ = ("id", "collection_id", "partition_id", "node_id", "state", "row_count", "deleted_count", "data_bytes", "index_version", "index_state", "index_reason", "resident", "shard")
    ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DATA_BYTES_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_STATE_FIELD_NUMBER: _ClassVar[int]
    INDEX_REASON_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    id: int
    collection_id: int
    partition_id: int
    node_id: str
    state: SegmentState
    row_count: int
    deleted_count: int
    data_bytes: int
    index_version: int
    index_state: IndexState
    index_reason: str
    resident: bool
    shard: int
    def __init__(self, id: _Optional[int] = ..., collection_id: _Optional[int] = ..., partition_id: _Optional[int] = ..., node_id: _Optional[str] = ..., state: _Optional[_Union[SegmentState, str]] = ..., row_count: _Optional[int] = ..., deleted_count: _Optional[int] = ..., data_bytes: _Optional[int] = ..., index_version: _Optional[int] = ..., index_state: _Optional[_Union[IndexState, str]] = ..., index_reason: _Optional[str] = ..., resident: _Optional[bool] = ..., shard: _Optional[int] = ...) -> None: ...

class ChannelInfo(_message.Message):
    __slots__ = ("collection_id", "shard", "node_id", "checkpoint")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    shard: int
    node_id: str
    checkpoint: int
    def __init__(self, collection_id: _Optional[int] = ..., shard: _Optional[int] = ..., node_id: _Optional[str] = ..., checkpoint: _Optional[int] = ...) -> None: ...

class SegmentRef(_message.Message):
    __slots__ = ("segment_id",)
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    def __init__(self, segment_id: _Optional[int] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("node_id", "role", "address", "alive", "started_ms", "memory_bytes", "cpu_count", "gpu_memory_bytes")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    STARTED_MS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    GPU_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    role: NodeRole
    address: str
    alive: bool
    started_ms: int
    memory_bytes: int
    cpu_count: int
    gpu_memory_bytes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, node_id: _Optional[str] = ..., role: _Optional[_Union[NodeRole, str]] = ..., address: _Optional[str] = ..., alive: _Optional[bool] = ..., started_ms: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., cpu_count: _Optional[int] = ..., gpu_memory_bytes: _Optional[_Iterable[int]] = ...) -> None: ...

class RuntimeConfig(_message.Message):
    __slots__ = ("version", "cpu_cache_capacity_gb", "cache_insert_data", "use_blas_threshold", "gpu_search_threshold", "gpu_enable", "gpu_cache_capacity_gb", "gpu_search_devices", "gpu_build_devices")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CPU_CACHE_CAPACITY_GB_FIELD_NUMBER: _ClassVar[int]
    CACHE_INSERT_DATA_FIELD_NUMBER: _ClassVar[int]
    USE_BLAS_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    GPU_SEARCH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    GPU_ENABLE_FIELD_NUMBER: _ClassVar[int]
    GPU_CACHE_CAPACITY_GB_FIELD_NUMBER: _ClassVar[int]
    GPU_SEARCH_DEVICES_FIELD_NUMBER: _ClassVar[int]
    GPU_BUILD_DEVICES_FIELD_NUMBER: _ClassVar[int]
    version: int
    cpu_cache_capacity_gb: int
    cache_insert_data: bool
    use_blas_threshold: int
    gpu_search_threshold: int
    gpu_enable: bool
    gpu_cache_capacity_gb: int
    gpu_search_devices: _containers.RepeatedScalarFieldContainer[int]
    gpu_build_devices: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, version: _Optional[int] = ..., cpu_cache_capacity_gb: _Optional[int] = ..., cache_insert_data: _Optional[bool] = ..., use_blas_threshold: _Optional[int] = ..., gpu_search_threshold: _Optional[int] = ..., gpu_enable: _Optional[bool] = ..., gpu_cache_capacity_gb: _Optional[int] = ..., gpu_search_devices: _Optional[_Iterable[int]] = ..., gpu_build_devices: _Optional[_Iterable[int]] = ...) -> None: ...
