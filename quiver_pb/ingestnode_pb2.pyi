from quiver_pb import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ObjectRef(_message.Message):
    __slots__ = ("project_id", "id")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    id: str
    def __init__(self, project_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class PageRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class Directory(_message.Message):
    __slots__ = ("id", "project_id", "name", "description", "type", "created_ms", "updated_ms", "deleted_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    DELETED_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    name: str
    description: str
    type: str
    created_ms: int
    updated_ms: int
    deleted_ms: int
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., type: _Optional[str] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ..., deleted_ms: _Optional[int] = ...) -> None: ...

class CreateDirectoryRequest(_message.Message):
    __slots__ = ("project_id", "name", "description", "type")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    name: str
    description: str
    type: str
    def __init__(self, project_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class UpdateDirectoryRequest(_message.Message):
    __slots__ = ("project_id", "id", "name", "description")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    id: str
    name: str
    description: str
    def __init__(self, project_id: _Optional[str] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ListDirectoriesRequest(_message.Message):
    __slots__ = ("project_id", "page", "name", "types", "include_deleted")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DELETED_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    page: PageRequest
    name: str
    types: _containers.RepeatedScalarFieldContainer[str]
    include_deleted: bool
    def __init__(self, project_id: _Optional[str] = ..., page: _Optional[_Union[PageRequest, _Mapping]] = ..., name: _Optional[str] = ..., types: _Optional[_Iterable[str]] = ..., include_deleted: _Optional[bool] = ...) -> None: ...

class DirectoryReply(_message.Message):
    __slots__ = ("status", "directory")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    directory: Directory
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., directory: _Optional[_Union[Directory, _Mapping]] = ...) -> None: ...

class DirectoriesReply(_message.Message):
    __slots__ = ("status", "directories", "next_page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DIRECTORIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    directories: _containers.RepeatedCompositeFieldContainer[Directory]
    next_page_token: str
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., directories: _Optional[_Iterable[_Union[Directory, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class File(_message.Message):
    __slots__ = ("id", "project_id", "name", "file_type", "purpose", "external_file_id", "content_type", "content_hash", "size", "created_ms", "updated_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    name: str
    file_type: str
    purpose: str
    external_file_id: str
    content_type: str
    content_hash: str
    size: int
    created_ms: int
    updated_ms: int
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., file_type: _Optional[str] = ..., purpose: _Optional[str] = ..., external_file_id: _Optional[str] = ..., content_type: _Optional[str] = ..., content_hash: _Optional[str] = ..., size: _Optional[int] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ...) -> None: ...

class DirectoryFile(_message.Message):
    __slots__ = ("id", "directory_id", "project_id", "display_name", "unique_id", "file_id", "metadata_json", "created_ms", "updated_ms", "deleted_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    DELETED_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    directory_id: str
    project_id: str
    display_name: str
    unique_id: str
    file_id: str
    metadata_json: str
    created_ms: int
    updated_ms: int
    deleted_ms: int
    def __init__(self, id: _Optional[str] = ..., directory_id: _Optional[str] = ..., project_id: _Optional[str] = ..., display_name: _Optional[str] = ..., unique_id: _Optional[str] = ..., file_id: _Optional[str] = ..., metadata_json: _Optional[str] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ..., deleted_ms: _Optional[int] = ...) -> None: ...

class UploadChunk(_message.Message):
    __slots__ = ("project_id", "directory_id", "purpose", "display_name", "unique_id", "external_file_id", "metadata_json", "file_name", "content_type", "data", "end")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    directory_id: str
    purpose: str
    display_name: str
    unique_id: str
    external_file_id: str
    metadata_json: str
    file_name: str
    content_type: str
    data: bytes
    end: bool
    def __init__(self, project_id: _Optional[str] = ..., directory_id: _Optional[str] = ..., purpose: _Optional[str] = ..., display_name: _Optional[str] = ..., unique_id: _Optional[str] = ..., external_file_id: _Optional[str] = ..., metadata_json: _Optional[str] = ..., file_name: _Optional[str] = ..., content_type: _Optional[str] = ..., data: _Optional[bytes] = ..., end: _Optional[bool] = ...) -> None: ...

class UploadReply(_message.Message):
    __slots__ = ("status", "file", "directory_file")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FILE_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    file: File
    directory_file: DirectoryFile
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., file: _Optional[_Union[File, _Mapping]] = ..., directory_file: _Optional[_Union[DirectoryFile, _Mapping]] = ...) -> None: ...

class AddDirectoryFileRequest(_message.Message):
    __slots__ = ("project_id", "directory_id", "file_id", "display_name", "unique_id", "metadata_json")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    directory_id: str
    file_id: str
    display_name: str
    unique_id: str
    metadata_json: str
    def __init__(self, project_id: _Optional[str] = ..., directory_id: _Optional[str] = ..., file_id: _Optional[str] = ..., display_name: _Optional[str] = ..., unique_id: _Optional[str] = ..., metadata_json: _Optional[str] = ...) -> None: ...

class ImportFilesRequest(_message.Message):
    __slots__ = ("project_id", "directory_id", "path", "glob")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    GLOB_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    directory_id: str
    path: str
    glob: str
    def __init__(self, project_id: _Optional[str] = ..., directory_id: _Optional[str] = ..., path: _Optional[str] = ..., glob: _Optional[str] = ...) -> None: ...

class ImportFilesReply(_message.Message):
    __slots__ = ("status", "directory_files", "skipped")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FILES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    directory_files: _containers.RepeatedCompositeFieldContainer[DirectoryFile]
    skipped: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., directory_files: _Optional[_Iterable[_Union[DirectoryFile, _Mapping]]] = ..., skipped: _Optional[_Iterable[str]] = ...) -> None: ...

class DirectoryFileRef(_message.Message):
    __slots__ = ("project_id", "directory_id", "id")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    directory_id: str
    id: str
    def __init__(self, project_id: _Optional[str] = ..., directory_id: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class ListDirectoryFilesRequest(_message.Message):
    __slots__ = ("project_id", "directory_id", "page", "display_name", "display_name_contains", "unique_id", "file_id", "include_deleted", "updated_at_on_or_after_ms", "updated_at_on_or_before_ms")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DELETED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_ON_OR_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_ON_OR_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    directory_id: str
    page: PageRequest
    display_name: str
    display_name_contains: str
    unique_id: str
    file_id: str
    include_deleted: bool
    updated_at_on_or_after_ms: int
    updated_at_on_or_before_ms: int
    def __init__(self, project_id: _Optional[str] = ..., directory_id: _Optional[str] = ..., page: _Optional[_Union[PageRequest, _Mapping]] = ..., display_name: _Optional[str] = ..., display_name_contains: _Optional[str] = ..., unique_id: _Optional[str] = ..., file_id: _Optional[str] = ..., include_deleted: _Optional[bool] = ..., updated_at_on_or_after_ms: _Optional[int] = ..., updated_at_on_or_before_ms: _Optional[int] = ...) -> None: ...

class DirectoryFileReply(_message.Message):
    __slots__ = ("status", "directory_file")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FILE_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    directory_file: DirectoryFile
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., directory_file: _Optional[_Union[DirectoryFile, _Mapping]] = ...) -> None: ...

class DirectoryFilesReply(_message.Message):
    __slots__ = ("status", "directory_files", "next_page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    directory_files: _containers.RepeatedCompositeFieldContainer[DirectoryFile]
    next_page_token: str
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., directory_files: _Optional[_Iterable[_Union[DirectoryFile, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListFilesRequest(_message.Message):
    __slots__ = ("project_id", "page", "purpose")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    page: PageRequest
    purpose: str
    def __init__(self, project_id: _Optional[str] = ..., page: _Optional[_Union[PageRequest, _Mapping]] = ..., purpose: _Optional[str] = ...) -> None: ...

class FileReply(_message.Message):
    __slots__ = ("status", "file")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    file: File
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., file: _Optional[_Union[File, _Mapping]] = ...) -> None: ...

class FilesReply(_message.Message):
    __slots__ = ("status", "files", "next_page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    files: _containers.RepeatedCompositeFieldContainer[File]
    next_page_token: str
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., files: _Optional[_Iterable[_Union[File, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ContentRef(_message.Message):
    __slots__ = ("project_id", "file_id", "attachment_source_id", "attachment_name")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    file_id: str
    attachment_source_id: str
    attachment_name: str
    def __init__(self, project_id: _Optional[str] = ..., file_id: _Optional[str] = ..., attachment_source_id: _Optional[str] = ..., attachment_name: _Optional[str] = ...) -> None: ...

class ContentChunk(_message.Message):
    __slots__ = ("status", "name", "content_type", "size", "data")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    name: str
    content_type: str
    size: int
    data: bytes
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., name: _Optional[str] = ..., content_type: _Optional[str] = ..., size: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Configuration(_message.Message):
    __slots__ = ("id", "project_id", "name", "product_type", "parameters_json", "version_ms", "created_ms", "updated_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    VERSION_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    name: str
    product_type: str
    parameters_json: str
    version_ms: int
    created_ms: int
    updated_ms: int
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., product_type: _Optional[str] = ..., parameters_json: _Optional[str] = ..., version_ms: _Optional[int] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ...) -> None: ...

class ConfigurationRequest(_message.Message):
    __slots__ = ("project_id", "id", "name", "parameters_json")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    id: str
    name: str
    parameters_json: str
    def __init__(self, project_id: _Optional[str] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., parameters_json: _Optional[str] = ...) -> None: ...

class ListConfigurationsRequest(_message.Message):
    __slots__ = ("project_id", "page", "name", "product_types")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_TYPES_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    page: PageRequest
    name: str
    product_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, project_id: _Optional[str] = ..., page: _Optional[_Union[PageRequest, _Mapping]] = ..., name: _Optional[str] = ..., product_types: _Optional[_Iterable[str]] = ...) -> None: ...

class ConfigurationReply(_message.Message):
    __slots__ = ("status", "configuration")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    configuration: Configuration
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., configuration: _Optional[_Union[Configuration, _Mapping]] = ...) -> None: ...

class ConfigurationsReply(_message.Message):
    __slots__ = ("status", "configurations", "next_page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    configurations: _containers.RepeatedCompositeFieldContainer[Configuration]
    next_page_token: str
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., configurations: _Optional[_Iterable[_Union[Configuration, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Product(_message.Message):
    __slots__ = ("product_config_id", "product_type")
    PRODUCT_CONFIG_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_TYPE_FIELD_NUMBER: _ClassVar[int]
    product_config_id: str
    product_type: str
    def __init__(self, product_config_id: _Optional[str] = ..., product_type: _Optional[str] = ...) -> None: ...

class ManagedIndex(_message.Message):
    __slots__ = ("id", "project_id", "name", "description", "source_directory_id", "output_directory_id", "export_config_id", "sync_config_id", "products", "store_attachments", "sync_frequency", "vector_target", "created_ms", "updated_ms", "last_synced_ms", "last_exported_ms", "metadata_json", "sync_in_progress")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    EXPORT_CONFIG_ID_FIELD_NUMBER: _ClassVar[int]
    SYNC_CONFIG_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    STORE_ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    SYNC_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    VECTOR_TARGET_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNCED_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_EXPORTED_MS_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    SYNC_IN_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    name: str
    description: str
    source_directory_id: str
    output_directory_id: str
    export_config_id: str
    sync_config_id: str
    products: _containers.RepeatedCompositeFieldContainer[Product]
    store_attachments: _containers.RepeatedScalarFieldContainer[str]
    sync_frequency: str
    vector_target: str
    created_ms: int
    updated_ms: int
    last_synced_ms: int
    last_exported_ms: int
    metadata_json: str
    sync_in_progress: bool
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., source_directory_id: _Optional[str] = ..., output_directory_id: _Optional[str] = ..., export_config_id: _Optional[str] = ..., sync_config_id: _Optional[str] = ..., products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ..., store_attachments: _Optional[_Iterable[str]] = ..., sync_frequency: _Optional[str] = ..., vector_target: _Optional[str] = ..., created_ms: _Optional[int] = ..., updated_ms: _Optional[int] = ..., last_synced_ms: _Optional[int] = ..., last_exported_ms: _Optional[int] = ..., metadata_json: _Optional[str] = ..., sync_in_progress: _Optional[bool] = ...) -> None: ...

class CreateManagedIndexRequest(_message.Message):
    __slots__ = ("project_id", "source_directory_id", "name", "description", "products", "store_attachments", "sync_frequency", "vector_target")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    STORE_ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    SYNC_FREQUENCY_FIELD_NUMBER: _ClassVar[int]
    VECTOR_TARGET_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    source_directory_id: str
    name: str
    description: str
    products: _containers.RepeatedCompositeFieldContainer[Product]
    store_attachments: _containers.RepeatedScalarFieldContainer[str]
    sync_frequency: str
    vector_target: str
    def __init__(self, project_id: _Optional[str] = ..., source_directory_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ..., store_attachments: _Optional[_Iterable[str]] = ..., sync_frequency: _Optional[str] = ..., vector_target: _Optional[str] = ...) -> None: ...

class ListManagedIndexesRequest(_message.Message):
    __slots__ = ("project_id", "page", "source_directory_id")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DIRECTORY_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    page: PageRequest
    source_directory_id: str
    def __init__(self, project_id: _Optional[str] = ..., page: _Optional[_Union[PageRequest, _Mapping]] = ..., source_directory_id: _Optional[str] = ...) -> None: ...

class ManagedIndexReply(_message.Message):
    __slots__ = ("status", "index")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    index: ManagedIndex
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., index: _Optional[_Union[ManagedIndex, _Mapping]] = ...) -> None: ...

class ManagedIndexesReply(_message.Message):
    __slots__ = ("status", "indexes", "next_page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    indexes: _containers.RepeatedCompositeFieldContainer[ManagedIndex]
    next_page_token: str
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., indexes: _Optional[_Iterable[_Union[ManagedIndex, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ("name", "size", "modified_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    modified_ms: int
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ..., modified_ms: _Optional[int] = ...) -> None: ...

class ListAttachmentsRequest(_message.Message):
    __slots__ = ("project_id", "source_id", "page")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    source_id: str
    page: PageRequest
    def __init__(self, project_id: _Optional[str] = ..., source_id: _Optional[str] = ..., page: _Optional[_Union[PageRequest, _Mapping]] = ...) -> None: ...

class AttachmentsReply(_message.Message):
    __slots__ = ("status", "attachments", "next_page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    next_page_token: str
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class FieldFilter(_message.Message):
    __slots__ = ("field", "operator", "value_json", "built_in")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    BUILT_IN_FIELD_NUMBER: _ClassVar[int]
    field: str
    operator: str
    value_json: str
    built_in: bool
    def __init__(self, field: _Optional[str] = ..., operator: _Optional[str] = ..., value_json: _Optional[str] = ..., built_in: _Optional[bool] = ...) -> None: ...

class RetrieveRequest(_message.Message):
    __slots__ = ("project_id", "index_id", "query", "top_k", "score_threshold", "num_candidates", "vector_weight", "full_text_weight", "filters", "rerank_top_n")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    SCORE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    NUM_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    VECTOR_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    FULL_TEXT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    RERANK_TOP_N_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    index_id: str
    query: str
    top_k: int
    score_threshold: float
    num_candidates: int
    vector_weight: float
    full_text_weight: float
    filters: _containers.RepeatedCompositeFieldContainer[FieldFilter]
    rerank_top_n: int
    def __init__(self, project_id: _Optional[str] = ..., index_id: _Optional[str] = ..., query: _Optional[str] = ..., top_k: _Optional[int] = ..., score_threshold: _Optional[float] = ..., num_candidates: _Optional[int] = ..., vector_weight: _Optional[float] = ..., full_text_weight: _Optional[float] = ..., filters: _Optional[_Iterable[_Union[FieldFilter, _Mapping]]] = ..., rerank_top_n: _Optional[int] = ...) -> None: ...

class RetrievedAttachment(_message.Message):
    __slots__ = ("attachment_name", "source_id", "type")
    ATTACHMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    attachment_name: str
    source_id: str
    type: str
    def __init__(self, attachment_name: _Optional[str] = ..., source_id: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class RetrievedChunk(_message.Message):
    __slots__ = ("content", "score", "metadata_json", "directory_file_id", "chunk_index", "start_char", "end_char", "token_count", "page_start", "page_end", "attachments")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    START_CHAR_FIELD_NUMBER: _ClassVar[int]
    END_CHAR_FIELD_NUMBER: _ClassVar[int]
    TOKEN_COUNT_FIELD_NUMBER: _ClassVar[int]
    PAGE_START_FIELD_NUMBER: _ClassVar[int]
    PAGE_END_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    content: str
    score: float
    metadata_json: str
    directory_file_id: str
    chunk_index: int
    start_char: int
    end_char: int
    token_count: int
    page_start: int
    page_end: int
    attachments: _containers.RepeatedCompositeFieldContainer[RetrievedAttachment]
    def __init__(self, content: _Optional[str] = ..., score: _Optional[float] = ..., metadata_json: _Optional[str] = ..., directory_file_id: _Optional[str] = ..., chunk_index: _Optional[int] = ..., start_char: _Optional[int] = ..., end_char: _Optional[int] = ..., token_count: _Optional[int] = ..., page_start: _Optional[int] = ..., page_end: _Optional[int] = ..., attachments: _Optional[_Iterable[_Union[RetrievedAttachment, _Mapping]]] = ...) -> None: ...

class RetrieveReply(_message.Message):
    __slots__ = ("status", "chunks")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.Status
    chunks: _containers.RepeatedCompositeFieldContainer[RetrievedChunk]
    def __init__(self, status: _Optional[_Union[_common_pb2.Status, _Mapping]] = ..., chunks: _Optional[_Iterable[_Union[RetrievedChunk, _Mapping]]] = ...) -> None: ...
