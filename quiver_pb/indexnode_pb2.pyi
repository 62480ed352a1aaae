from quiver_pb import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IndexNodeReply(_message.Message):
    __slots__ = ("status", "node", "gpu_count")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    GPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    node: _common_pb2.NodeInfo
    gpu_count: int
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., node: _Optional[_Union[_common_pb2.NodeInfo, _Mapping]] = ..., gpu_count: _Optional[int] = ...) -> None: ...
