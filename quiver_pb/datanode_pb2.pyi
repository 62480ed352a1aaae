from quiver_pb import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReadScope(_message.Message):
    __slots__ = ("shards", "consistency", "session")
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    shards: _containers.RepeatedScalarFieldContainer[int]
    consistency: _common_pb2.Consistency
    session: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChannelInfo]
    def __init__(self, shards: _Optional[_Iterable[int]] = ..., consistency: _Optional[_Union[_common_pb2.Consistency, str]] = ..., session: _Optional[_Iterable[_Union[_common_pb2.ChannelInfo, _Mapping]]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection_id", "partition_ids", "segment_ids", "metric_type", "topk", "nq", "vectors", "params_json", "filter", "output_fields", "indexed_fields", "scope")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_IDS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    METRIC_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOPK_FIELD_NUMBER: _ClassVar[int]
    NQ_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELDS_FIELD_NUMBER: _ClassVar[int]
    INDEXED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    partition_ids: _containers.RepeatedScalarFieldContainer[int]
    segment_ids: _containers.RepeatedScalarFieldContainer[int]
    metric_type: str
    topk: int
    nq: int
    vectors: bytes
    params_json: str
    filter: str
    output_fields: _containers.RepeatedScalarFieldContainer[str]
    indexed_fields: _containers.RepeatedScalarFieldContainer[str]
    scope: ReadScope
    def __init__(self, collection_id: _Optional[int] = ..., partition_ids: _Optional[_Iterable[int]] = ..., segment_ids: _Optional[_Iterable[int]] = ..., metric_type: _Optional[str] = ..., topk: _Optional[int] = ..., nq: _Optional[int] = ..., vectors: _Optional[bytes] = ..., params_json: _Optional[str] = ..., filter: _Optional[str] = ..., output_fields: _Optional[_Iterable[str]] = ..., indexed_fields: _Optional[_Iterable[str]] = ..., scope: _Optional[_Union[ReadScope, _Mapping]] = ...) -> None: ...

class SearchReply(_message.Message):
    __slots__ = ("status", "nq", "topk", "ids", "distances", "fields", "applied")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NQ_FIELD_NUMBER: _ClassVar[int]
    TOPK_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    nq: int
    topk: int
    ids: bytes
    distances: bytes
    fields: bytes
    applied: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChannelInfo]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., nq: _Optional[int] = ..., topk: _Optional[int] = ..., ids: _Optional[bytes] = ..., distances: _Optional[bytes] = ..., fields: _Optional[bytes] = ..., applied: _Optional[_Iterable[_Union[_common_pb2.ChannelInfo, _Mapping]]] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("collection_id", "partition_ids", "filter", "output_fields", "limit", "indexed_fields", "scope")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    INDEXED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    partition_ids: _containers.RepeatedScalarFieldContainer[int]
    filter: str
    output_fields: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    indexed_fields: _containers.RepeatedScalarFieldContainer[str]
    scope: ReadScope
    def __init__(self, collection_id: _Optional[int] = ..., partition_ids: _Optional[_Iterable[int]] = ..., filter: _Optional[str] = ..., output_fields: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., indexed_fields: _Optional[_Iterable[str]] = ..., scope: _Optional[_Union[ReadScope, _Mapping]] = ...) -> None: ...

class QueryReply(_message.Message):
    __slots__ = ("status", "count", "ids", "fields", "applied")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    count: int
    ids: bytes
    fields: bytes
    applied: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChannelInfo]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., count: _Optional[int] = ..., ids: _Optional[bytes] = ..., fields: _Optional[bytes] = ..., applied: _Optional[_Iterable[_Union[_common_pb2.ChannelInfo, _Mapping]]] = ...) -> None: ...

class GetVectorsRequest(_message.Message):
    __slots__ = ("collection_id", "ids", "scope")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    collection_id: int
    ids: bytes
    scope: ReadScope
    def __init__(self, collection_id: _Optional[int] = ..., ids: _Optional[bytes] = ..., scope: _Optional[_Union[ReadScope, _Mapping]] = ...) -> None: ...

class GetVectorsReply(_message.Message):
    __slots__ = ("status", "ids", "vectors", "applied")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    ids: bytes
    vectors: bytes
    applied: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChannelInfo]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., ids: _Optional[bytes] = ..., vectors: _Optional[bytes] = ..., applied: _Optional[_Iterable[_Union[_common_pb2.ChannelInfo, _Mapping]]] = ...) -> None: ...

class NodeFlushRequest(_message.Message):
    __slots__ = ("collection_ids",)
    COLLECTION_IDS_FIELD_NUMBER: _ClassVar[int]
    collection_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, collection_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class NodeFlushReply(_message.Message):
    __slots__ = ("status", "segments")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    segments: _containers.RepeatedCompositeFieldContainer[_common_pb2.SegmentInfo]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[_common_pb2.SegmentInfo, _Mapping]]] = ...) -> None: ...

class DropSegmentsRequest(_message.Message):
    __slots__ = ("segment_ids",)
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    segment_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, segment_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class LoadIndexRequest(_message.Message):
    __slots__ = ("segment_id", "spec")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    spec: _common_pb2.IndexSpec
    def __init__(self, segment_id: _Optional[int] = ..., spec: _Optional[_Union[_common_pb2.IndexSpec, _Mapping]] = ...) -> None: ...

class SegmentRowsRequest(_message.Message):
    __slots__ = ("segment_id", "offset", "limit", "with_vectors")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    offset: int
    limit: int
    with_vectors: bool
    def __init__(self, segment_id: _Optional[int] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ..., with_vectors: _Optional[bool] = ...) -> None: ...

class SegmentRowsReply(_message.Message):
    __slots__ = ("status", "total", "ids", "vectors")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    total: int
    ids: bytes
    vectors: bytes
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., total: _Optional[int] = ..., ids: _Optional[bytes] = ..., vectors: _Optional[bytes] = ...) -> None: ...

class CompactRequest(_message.Message):
    __slots__ = ("segment_id", "source_segment_ids")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    segment_id: int
    source_segment_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, segment_id: _Optional[int] = ..., source_segment_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class CompactReply(_message.Message):
    __slots__ = ("status", "segment")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    segment: _common_pb2.SegmentInfo
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., segment: _Optional[_Union[_common_pb2.SegmentInfo, _Mapping]] = ...) -> None: ...
