"""The internal data model every role works on: collections, partitions, segments, nodes.

Plain frozen dataclasses, with converters to and from the protobuf messages that carry them
between roles. The REST surfaces translate their own shapes onto these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from google.protobuf import json_format

from quiver.catalogue import IndexType, Metric, VectorKind, index_type, metric
from quiver.errors import ErrorCode, QuiverError
from quiver.filters import FieldKind, FilterField, FilterSchema
from quiver_pb import common_pb2 as pb

DEFAULT_PARTITION = "_default"
DYNAMIC_FIELD = "$meta"  # the column that keeps inserted keys the schema does not name
MAX_DIMENSION = 32768
MAX_VARCHAR_LENGTH = 65535
MAX_ARRAY_CAPACITY = 4096
MB = 1024 * 1024
# A growing segment is searched by brute force and has no index yet, so it is sealed (and
# indexed) at this size even when the collection's segments are larger; compaction merges sealed
# ones up to the collection's size. Milvus, likewise, seals growing segments at a fraction of
# its segment size.
GROWING_SEGMENT_MAX_BYTES = 64 * MB
# Shard channels of the log a collection's rows spread over (Milvus' shards_num, default 1).
DEFAULT_SHARDS = 1
MAX_SHARDS = 16

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


class DataType(IntEnum):
    BOOL = pb.BOOL
    INT8 = pb.INT8
    INT16 = pb.INT16
    INT32 = pb.INT32
    INT64 = pb.INT64
    FLOAT = pb.FLOAT
    DOUBLE = pb.DOUBLE
    VARCHAR = pb.VARCHAR
    ARRAY = pb.ARRAY
    JSON = pb.JSON
    BINARY_VECTOR = pb.BINARY_VECTOR
    FLOAT_VECTOR = pb.FLOAT_VECTOR


INTEGER_TYPES = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})
VECTOR_TYPES = frozenset({DataType.FLOAT_VECTOR, DataType.BINARY_VECTOR})
# What a scalar field's column holds. JSON values are kept as their JSON text.
ARROW_TYPES: dict[DataType, pa.DataType] = {
    DataType.BOOL: pa.bool_(),
    DataType.INT8: pa.int8(),
    DataType.INT16: pa.int16(),
    DataType.INT32: pa.int32(),
    DataType.INT64: pa.int64(),
    DataType.FLOAT: pa.float32(),
    DataType.DOUBLE: pa.float64(),
    DataType.VARCHAR: pa.string(),
    DataType.JSON: pa.string(),
}


class IdMode(IntEnum):
    UNSET = pb.ID_MODE_UNSET
    AUTO = pb.ID_MODE_AUTO
    USER = pb.ID_MODE_USER


class SegmentState(IntEnum):
    GROWING = pb.GROWING
    SEALED = pb.SEALED
    FLUSHED = pb.FLUSHED


class NodeRole(IntEnum):
    DATA = pb.DATA_NODE
    INDEX = pb.INDEX_NODE


class IndexState(IntEnum):
    NONE = pb.INDEX_STATE_NONE
    QUEUED = pb.QUEUED
    BUILDING = pb.BUILDING
    FINISHED = pb.FINISHED
    FAILED = pb.FAILED


def validate_collection_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise QuiverError(
            ErrorCode.COLLECTION_NAME_INVALID,
            f"invalid collection name {name!r}: 1 to 255 letters, digits or '_', "
            "starting with a letter or '_'",
        )
    return name


def validate_field_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise QuiverError(
            ErrorCode.SCHEMA_INVALID,
            f"invalid field name {name!r}: 1 to 255 letters, digits or '_', starting with a letter or '_'",
        )
    return name


@dataclass(frozen=True)
class Field:
    name: str
    data_type: DataType
    is_primary: bool = False
    dim: int = 0  # vectors: components, or bits for binary vectors
    max_length: int = 0  # VARCHAR (and VARCHAR array elements)
    element_type: DataType | None = None  # ARRAY
    max_capacity: int = 0  # ARRAY
    auto_id: bool = False  # primary key: allocated by the cluster
    nullable: bool = False
    description: str = ""
    field_id: int = 0

    @property
    def is_vector(self) -> bool:
        return self.data_type in VECTOR_TYPES

    @property
    def arrow_type(self) -> pa.DataType:
        if self.data_type is DataType.ARRAY:
            assert self.element_type is not None
            return pa.list_(ARROW_TYPES[self.element_type])
        return ARROW_TYPES[self.data_type]

    def to_proto(self) -> pb.FieldSchema:
        return pb.FieldSchema(
            name=self.name,
            data_type=int(self.data_type),
            is_primary=self.is_primary,
            dim=self.dim,
            max_length=self.max_length,
            element_type=int(self.element_type or 0),
            max_capacity=self.max_capacity,
            auto_id=self.auto_id,
            nullable=self.nullable,
            description=self.description,
            field_id=self.field_id,
        )

    @classmethod
    def from_proto(cls, msg: pb.FieldSchema) -> Field:
        return cls(
            name=msg.name,
            data_type=DataType(msg.data_type),
            is_primary=msg.is_primary,
            dim=msg.dim,
            max_length=msg.max_length,
            element_type=DataType(msg.element_type) if msg.element_type else None,
            max_capacity=msg.max_capacity,
            auto_id=msg.auto_id,
            nullable=msg.nullable,
            description=msg.description,
            field_id=msg.field_id,
        )


@dataclass(frozen=True)
class Partition:
    id: int
    name: str
    created_ms: int = 0

    def to_proto(self) -> pb.PartitionInfo:
        return pb.PartitionInfo(id=self.id, name=self.name, created_ms=self.created_ms)

    @classmethod
    def from_proto(cls, msg: pb.PartitionInfo) -> Partition:
        return cls(msg.id, msg.name, msg.created_ms)


@dataclass(frozen=True)
class IndexSpec:
    """An index on one field; `version` identifies this creation of it cluster-wide."""

    field_name: str
    index_type: str  # a catalogue name
    metric_type: str
    params: dict[str, int]
    index_name: str = ""
    version: int = 0
    dialect_name: str = ""
    created_ms: int = 0
    # The build parameters as the client gave them, before validation added defaults: what the
    # Milvus 0.x API shows back (None: not kept, for indexes created otherwise).
    client_params: dict[str, Any] | None = None

    @property
    def catalogue_type(self) -> IndexType:
        return index_type(self.index_type)

    def to_proto(self) -> pb.IndexSpec:
        return pb.IndexSpec(
            index_name=self.index_name,
            field_name=self.field_name,
            index_type=self.index_type,
            metric_type=self.metric_type,
            params_json=orjson.dumps(self.params).decode(),
            version=self.version,
            dialect_name=self.dialect_name,
            created_ms=self.created_ms,
            client_params_json="" if self.client_params is None else orjson.dumps(self.client_params).decode(),
        )

    @classmethod
    def from_proto(cls, msg: pb.IndexSpec) -> IndexSpec:
        return cls(
            field_name=msg.field_name,
            index_type=msg.index_type,
            metric_type=msg.metric_type,
            params=orjson.loads(msg.params_json or "{}"),
            index_name=msg.index_name,
            version=msg.version,
            dialect_name=msg.dialect_name,
            created_ms=msg.created_ms,
            client_params=orjson.loads(msg.client_params_json) if msg.client_params_json else None,
        )


@dataclass(frozen=True)
class VectorLayout:
    """How one vector field's rows are packed into bytes."""

    kind: VectorKind
    dim: int  # components, or bits for binary vectors

    @property
    def dtype(self) -> np.dtype:
        return np.dtype("<f4") if self.kind is VectorKind.FLOAT else np.dtype("u1")

    @property
    def width(self) -> int:
        """Array elements per row: dim floats, or dim/8 bytes."""
        return self.dim if self.kind is VectorKind.FLOAT else self.dim // 8

    @property
    def row_bytes(self) -> int:
        return self.width * self.dtype.itemsize

    def unpack(self, data: bytes | memoryview, rows: int | None = None) -> np.ndarray:
        array = np.frombuffer(data, dtype=self.dtype)
        if array.size % self.width or (rows is not None and array.size != rows * self.width):
            raise QuiverError(
                ErrorCode.INVALID_VECTORS, f"{len(data)} bytes do not hold rows of {self.row_bytes}"
            )
        return array.reshape(-1, self.width)


_FILTER_KINDS = {
    DataType.BOOL: FieldKind.BOOL,
    **{t: FieldKind.INT for t in INTEGER_TYPES},
    DataType.FLOAT: FieldKind.FLOAT,
    DataType.DOUBLE: FieldKind.FLOAT,
    DataType.VARCHAR: FieldKind.STRING,
    DataType.JSON: FieldKind.JSON,
    DataType.ARRAY: FieldKind.ARRAY,
}


@dataclass(frozen=True)
class CollectionSchema:
    """The fields of a collection: what a segment needs to store, filter and return rows."""

    fields: tuple[Field, ...]
    enable_dynamic_field: bool = False

    @property
    def primary_field(self) -> Field:
        return next(f for f in self.fields if f.is_primary)

    @property
    def ids_are_keys(self) -> bool:
        """An INT64 primary key is the row id itself; a VARCHAR one is a scalar column."""
        return self.primary_field.data_type is DataType.INT64

    @property
    def vector_field(self) -> Field:
        return next(f for f in self.fields if f.is_vector)

    @property
    def layout(self) -> VectorLayout:
        vf = self.vector_field
        kind = VectorKind.BINARY if vf.data_type is DataType.BINARY_VECTOR else VectorKind.FLOAT
        return VectorLayout(kind, vf.dim)

    @property
    def scalar_fields(self) -> tuple[Field, ...]:
        """The fields kept in a segment's scalar columns (an INT64 key lives in the row ids)."""
        return tuple(
            f for f in self.fields if not f.is_vector and not (f.is_primary and self.ids_are_keys)
        )

    @property
    def scalar_schema(self) -> pa.Schema:
        """The Arrow schema of a segment's scalar columns, the dynamic field last."""
        columns = [pa.field(f.name, f.arrow_type) for f in self.scalar_fields]
        if self.enable_dynamic_field:
            columns.append(pa.field(DYNAMIC_FIELD, pa.string()))
        return pa.schema(columns)

    @property
    def filter_schema(self) -> FilterSchema:
        """What a filter expression may name: every non-vector field, and dynamic keys."""
        fields = {
            f.name: FilterField(
                f.name, _FILTER_KINDS[f.data_type], _FILTER_KINDS.get(f.element_type) if f.element_type else None
            )
            for f in self.fields
            if not f.is_vector
        }
        return FilterSchema(fields, dynamic_field=self.enable_dynamic_field)

    def field_named(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise QuiverError(ErrorCode.INVALID_PARAMETER, f"field {name!r} does not exist")

    def to_json(self) -> str:
        info = pb.CollectionInfo(
            fields=[f.to_proto() for f in self.fields], enable_dynamic_field=self.enable_dynamic_field
        )
        return json_format.MessageToJson(info, preserving_proto_field_name=True, indent=None)

    @classmethod
    def from_json(cls, text: str) -> CollectionSchema:
        info = json_format.Parse(text, pb.CollectionInfo())
        return cls(tuple(Field.from_proto(f) for f in info.fields), info.enable_dynamic_field)


@dataclass(frozen=True)
class Collection:
    id: int
    name: str
    fields: tuple[Field, ...]
    metric_type: str
    index_file_size_mb: int
    created_ms: int = 0
    id_mode: IdMode = IdMode.UNSET
    version: int = 0
    partitions: tuple[Partition, ...] = field(default_factory=tuple)
    indexes: tuple[IndexSpec, ...] = field(default_factory=tuple)
    enable_dynamic_field: bool = False
    description: str = ""
    consistency_level: str = "Strong"  # what its reads wait for unless a request asks otherwise
    released: bool = False
    aliases: tuple[str, ...] = ()
    shards_num: int = DEFAULT_SHARDS

    @property
    def schema(self) -> CollectionSchema:
        return CollectionSchema(self.fields, self.enable_dynamic_field)

    @property
    def primary_field(self) -> Field:
        return self.schema.primary_field

    @property
    def ids_are_keys(self) -> bool:
        return self.schema.ids_are_keys

    @property
    def vector_field(self) -> Field:
        return self.schema.vector_field

    @property
    def layout(self) -> VectorLayout:
        return self.schema.layout

    @property
    def allocates_keys(self) -> bool:
        """The cluster allocates the Int64 key: autoID, or a 0.x collection inserted without ids."""
        return self.primary_field.auto_id or (self.ids_are_keys and self.id_mode is IdMode.AUTO)

    def index_for(self, field_name: str) -> IndexSpec | None:
        return next((i for i in self.indexes if i.field_name == field_name), None)

    @property
    def dim(self) -> int:
        return self.vector_field.dim

    @property
    def metric(self) -> Metric:
        return metric(self.metric_type)

    @property
    def seal_bytes(self) -> int:
        """The size compaction merges segments up to."""
        return self.index_file_size_mb * MB

    @property
    def growing_seal_bytes(self) -> int:
        """The size at which a growing segment is sealed."""
        return min(self.seal_bytes, GROWING_SEGMENT_MAX_BYTES)

    @property
    def vector_index(self) -> IndexSpec | None:
        """The index on the vector field, if one was created."""
        return self.index_for(self.vector_field.name)

    def partition(self, name: str) -> Partition:
        for p in self.partitions:
            if p.name == name:
                return p
        raise QuiverError(
            ErrorCode.PARTITION_NOT_FOUND, f"partition {name!r} not found in collection {self.name!r}"
        )

    def with_changes(self, **changes: object) -> Collection:
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_proto(self) -> pb.CollectionInfo:
        return pb.CollectionInfo(
            id=self.id,
            name=self.name,
            fields=[f.to_proto() for f in self.fields],
            metric_type=self.metric_type,
            index_file_size_mb=self.index_file_size_mb,
            created_ms=self.created_ms,
            id_mode=int(self.id_mode),
            version=self.version,
            partitions=[p.to_proto() for p in self.partitions],
            indexes=[i.to_proto() for i in self.indexes],
            enable_dynamic_field=self.enable_dynamic_field,
            description=self.description,
            consistency_level=self.consistency_level,
            released=self.released,
            aliases=list(self.aliases),
            shards_num=self.shards_num,
        )

    @classmethod
    def from_proto(cls, msg: pb.CollectionInfo) -> Collection:
        return cls(
            id=msg.id,
            name=msg.name,
            fields=tuple(Field.from_proto(f) for f in msg.fields),
            metric_type=msg.metric_type,
            index_file_size_mb=msg.index_file_size_mb,
            created_ms=msg.created_ms,
            id_mode=IdMode(msg.id_mode),
            version=msg.version,
            partitions=tuple(Partition.from_proto(p) for p in msg.partitions),
            indexes=tuple(IndexSpec.from_proto(i) for i in msg.indexes),
            enable_dynamic_field=msg.enable_dynamic_field,
            description=msg.description,
            consistency_level=msg.consistency_level or "Strong",
            released=msg.released,
            aliases=tuple(msg.aliases),
            shards_num=msg.shards_num or DEFAULT_SHARDS,
        )


def vector_collection(
    name: str, dim: int, metric_type: str, index_file_size_mb: int
) -> Collection:
    """The schema of a Milvus 0.x collection: an int64 primary key and one vector field."""
    vector_type = (
        DataType.BINARY_VECTOR
        if metric(metric_type).vector_kind is VectorKind.BINARY
        else DataType.FLOAT_VECTOR
    )
    return Collection(
        id=0,
        name=name,
        fields=(
            Field("id", DataType.INT64, is_primary=True, field_id=100),
            Field("vector", vector_type, dim=dim, field_id=101),
        ),
        metric_type=metric_type,
        index_file_size_mb=index_file_size_mb,
    )


def validate_collection(collection: Collection) -> None:
    """Checks a new collection's schema; raises with the code of the first problem."""
    validate_collection_name(collection.name)
    if not 1 <= collection.shards_num <= MAX_SHARDS:
        raise QuiverError(
            ErrorCode.INVALID_PARAMETER,
            f"invalid parameter: shardsNum {collection.shards_num} is out of range [1, {MAX_SHARDS}]",
        )
    m = collection.metric
    vectors = [f for f in collection.fields if f.is_vector]
    if len(vectors) != 1:
        raise QuiverError(
            ErrorCode.SCHEMA_INVALID,
            f"a collection needs exactly one vector field (this schema has {len(vectors)})",
        )
    _validate_fields(collection.fields)
    dim = vectors[0].dim
    if not 1 <= dim <= MAX_DIMENSION:
        raise QuiverError(
            ErrorCode.INVALID_DIMENSION, f"dimension {dim} is out of range [1, {MAX_DIMENSION}]"
        )
    if m.vector_kind is VectorKind.BINARY and dim % 8:
        raise QuiverError(
            ErrorCode.INVALID_DIMENSION, f"binary dimension {dim} must be a multiple of 8"
        )
    if collection.layout.kind is not m.vector_kind:
        raise QuiverError(
            ErrorCode.INVALID_METRIC,
            f"metric {m.name} does not apply to {collection.layout.kind.value} vectors",
        )
    if not 1 <= collection.index_file_size_mb <= 4096:
        raise QuiverError(
            ErrorCode.INVALID_PARAMETER,
            f"index_file_size {collection.index_file_size_mb} is out of range [1, 4096]",
        )


def _validate_fields(fields: tuple[Field, ...]) -> None:
    names = [validate_field_name(f.name) for f in fields]
    if len(set(names)) != len(names):
        raise QuiverError(ErrorCode.SCHEMA_INVALID, f"field names must be unique: {names}")
    primary = [f for f in fields if f.is_primary]
    if len(primary) != 1:
        raise QuiverError(ErrorCode.SCHEMA_INVALID, "a collection needs exactly one primary key field")
    key = primary[0]
    if key.data_type not in (DataType.INT64, DataType.VARCHAR):
        raise QuiverError(ErrorCode.SCHEMA_INVALID, "the primary key must be an Int64 or a VarChar field")
    if key.auto_id and key.data_type is not DataType.INT64:
        raise QuiverError(ErrorCode.SCHEMA_INVALID, "only an Int64 primary key can be allocated (autoID)")
    for f in fields:
        if f.is_primary and f.nullable:
            raise QuiverError(ErrorCode.SCHEMA_INVALID, "the primary key cannot be nullable")
        if f.data_type is DataType.VARCHAR or f.element_type is DataType.VARCHAR:
            if not 1 <= f.max_length <= MAX_VARCHAR_LENGTH:
                raise QuiverError(
                    ErrorCode.SCHEMA_INVALID,
                    f"field {f.name!r}: max_length must be in [1, {MAX_VARCHAR_LENGTH}]",
                )
        if f.data_type is DataType.ARRAY:
            if f.element_type not in ARROW_TYPES or f.element_type is DataType.JSON:
                raise QuiverError(ErrorCode.SCHEMA_INVALID, f"field {f.name!r}: invalid array element type")
            if not 1 <= f.max_capacity <= MAX_ARRAY_CAPACITY:
                raise QuiverError(
                    ErrorCode.SCHEMA_INVALID,
                    f"field {f.name!r}: max_capacity must be in [1, {MAX_ARRAY_CAPACITY}]",
                )


class Consistency(IntEnum):
    """How fresh a read must be (Milvus' consistency levels, by their REST names)."""

    DEFAULT = pb.CONSISTENCY_DEFAULT  # the collection's level
    STRONG = pb.STRONG
    BOUNDED = pb.BOUNDED
    SESSION = pb.SESSION
    EVENTUALLY = pb.EVENTUALLY

    @classmethod
    def named(cls, level: str) -> Consistency:
        """A level by its REST name; Milvus' Customized (a client's own timestamp) reads as Strong."""
        found = cls.STRONG if level.upper() == "CUSTOMIZED" else cls.__members__.get(level.upper())
        if found is None or found is cls.DEFAULT:
            raise QuiverError(
                ErrorCode.INVALID_PARAMETER,
                f"invalid parameter: consistencyLevel {level!r} is not one of Strong, Bounded, Session, Eventually",
            )
        return found


@dataclass(frozen=True)
class Channel:
    """A shard channel of a collection: who consumes it, and its checkpoint in the log."""

    collection_id: int
    shard: int
    node_id: str = ""
    checkpoint: int = 0  # everything the channel carried up to here is in the object store
    # A node restoring the channel's flushed segments to take it over (rebalancing); the
    # coordinator's own business, not sent to other roles.
    standby: str = ""

    def to_proto(self) -> pb.ChannelInfo:
        return pb.ChannelInfo(
            collection_id=self.collection_id, shard=self.shard, node_id=self.node_id, checkpoint=self.checkpoint
        )

    @classmethod
    def from_proto(cls, msg: pb.ChannelInfo) -> Channel:
        return cls(msg.collection_id, msg.shard, msg.node_id, msg.checkpoint)


@dataclass(frozen=True)
class Segment:
    id: int
    collection_id: int
    partition_id: int
    node_id: str
    state: SegmentState = SegmentState.GROWING
    row_count: int = 0
    deleted_count: int = 0
    data_bytes: int = 0
    index_version: int = 0
    index_state: IndexState = IndexState.NONE
    index_reason: str = ""
    resident: bool = False
    shard: int = 0

    @property
    def live_rows(self) -> int:
        return self.row_count - self.deleted_count

    def to_proto(self) -> pb.SegmentInfo:
        return pb.SegmentInfo(
            id=self.id,
            collection_id=self.collection_id,
            partition_id=self.partition_id,
            node_id=self.node_id,
            state=int(self.state),
            row_count=self.row_count,
            deleted_count=self.deleted_count,
            data_bytes=self.data_bytes,
            index_version=self.index_version,
            index_state=int(self.index_state),
            index_reason=self.index_reason,
            resident=self.resident,
            shard=self.shard,
        )

    @classmethod
    def from_proto(cls, msg: pb.SegmentInfo) -> Segment:
        return cls(
            id=msg.id,
            collection_id=msg.collection_id,
            partition_id=msg.partition_id,
            node_id=msg.node_id,
            state=SegmentState(msg.state or pb.GROWING),
            row_count=msg.row_count,
            deleted_count=msg.deleted_count,
            data_bytes=msg.data_bytes,
            index_version=msg.index_version,
            index_state=IndexState(msg.index_state),
            index_reason=msg.index_reason,
            resident=msg.resident,
            shard=msg.shard,
        )


@dataclass(frozen=True)
class IndexProgress:
    """How far an index's builds are, over the rows of sealed segments big enough to index."""

    total_rows: int
    indexed_rows: int
    pending_rows: int
    state: IndexState
    fail_reason: str = ""


@dataclass(frozen=True)
class Node:
    node_id: str
    role: NodeRole
    address: str
    alive: bool = False
    started_ms: int = 0
    memory_bytes: int = 0
    cpu_count: int = 0
    gpu_memory_bytes: tuple[int, ...] = ()

    @property
    def gpu_count(self) -> int:
        return len(self.gpu_memory_bytes)

    def to_proto(self) -> pb.NodeInfo:
        return pb.NodeInfo(
            node_id=self.node_id,
            role=int(self.role),
            address=self.address,
            alive=self.alive,
            started_ms=self.started_ms,
            memory_bytes=self.memory_bytes,
            cpu_count=self.cpu_count,
            gpu_memory_bytes=list(self.gpu_memory_bytes),
        )

    @classmethod
    def from_proto(cls, msg: pb.NodeInfo) -> Node:
        return cls(
            node_id=msg.node_id,
            role=NodeRole(msg.role),
            address=msg.address,
            alive=msg.alive,
            started_ms=msg.started_ms,
            memory_bytes=msg.memory_bytes,
            cpu_count=msg.cpu_count,
            gpu_memory_bytes=tuple(msg.gpu_memory_bytes),
        )


@dataclass(frozen=True)
class RuntimeConfig:
    """Cluster-wide settings that change at runtime; the defaults are Milvus 0.x's."""

    cpu_cache_capacity_gb: int = 4
    cache_insert_data: bool = False
    use_blas_threshold: int = 1100
    gpu_search_threshold: int = 1000
    gpu_enable: bool = True
    gpu_cache_capacity_gb: int = 1
    gpu_search_devices: tuple[int, ...] = (0,)
    gpu_build_devices: tuple[int, ...] = (0,)
    version: int = 0

    @property
    def cache_capacity_bytes(self) -> int:
        return self.cpu_cache_capacity_gb * 1024**3

    def validate(self, memory_bytes: int) -> None:
        memory_gb = memory_bytes // (1024**3)
        if not 0 <= self.cpu_cache_capacity_gb <= max(memory_gb, 1):
            raise QuiverError(
                ErrorCode.INVALID_PARAMETER,
                f"cpu_cache_capacity {self.cpu_cache_capacity_gb} GB is out of range [0, {memory_gb}]",
            )
        for name in ("use_blas_threshold", "gpu_search_threshold", "gpu_cache_capacity_gb"):
            if getattr(self, name) < 0:
                raise QuiverError(ErrorCode.INVALID_PARAMETER, f"{name} must not be negative")

    def to_proto(self) -> pb.RuntimeConfig:
        return pb.RuntimeConfig(
            version=self.version,
            cpu_cache_capacity_gb=self.cpu_cache_capacity_gb,
            cache_insert_data=self.cache_insert_data,
            use_blas_threshold=self.use_blas_threshold,
            gpu_search_threshold=self.gpu_search_threshold,
            gpu_enable=self.gpu_enable,
            gpu_cache_capacity_gb=self.gpu_cache_capacity_gb,
            gpu_search_devices=list(self.gpu_search_devices),
            gpu_build_devices=list(self.gpu_build_devices),
        )

    @classmethod
    def from_proto(cls, msg: pb.RuntimeConfig) -> RuntimeConfig:
        return cls(
            cpu_cache_capacity_gb=msg.cpu_cache_capacity_gb,
            cache_insert_data=msg.cache_insert_data,
            use_blas_threshold=msg.use_blas_threshold,
            gpu_search_threshold=msg.gpu_search_threshold,
            gpu_enable=msg.gpu_enable,
            gpu_cache_capacity_gb=msg.gpu_cache_capacity_gb,
            gpu_search_devices=tuple(msg.gpu_search_devices),
            gpu_build_devices=tuple(msg.gpu_build_devices),
            version=msg.version,
        )
