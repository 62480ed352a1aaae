"""The objects of managed document indexes, as ingest nodes keep them in Redis (JSON of these).

Ids are opaque to clients but readable in Redis: a kind prefix (`dir-`, `dfl-`, `file-`,
`cfg-`, `idx-`, `ec-`, `sc-`), then the creation time in hex milliseconds, then randomness, so
that sorting ids sorts by creation time (listings rely on it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import orjson

from managed.api import Status
from quiver.ids import now_ms


def new_id(prefix: str) -> str:
    return f"{prefix}-{now_ms():012x}{secrets.token_hex(8)}"


T = TypeVar("T")


def to_json(record: Any) -> bytes:
    return orjson.dumps(record)


def from_json(cls: type[T], raw: str | bytes) -> T:
    """A record from its JSON, lists back to tuples; keys the class no longer has are dropped,
    so records written by an older ingest node still load."""
    data = orjson.loads(raw)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: _tuples(v) for k, v in data.items() if k in known}
    return cls(**values)


def _tuples(value: Any) -> Any:
    """JSON arrays as tuples, as the frozen records hold them (objects are left as they are)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Directory:
    id: str
    project_id: str
    name: str
    description: str
    type: str
    created_ms: int
    updated_ms: int
    deleted_ms: int = 0


@dataclass(frozen=True)
class StoredFile:
    """A project file: bytes kept in the blob store under their content hash."""

    id: str
    project_id: str
    name: str
    purpose: str
    content_type: str
    content_hash: str
    size: int
    created_ms: int
    external_file_id: str = ""

    @property
    def file_type(self) -> str:
        _, dot, extension = self.name.rpartition(".")
        return extension.lower() if dot else ""


@dataclass(frozen=True)
class DirectoryFile:
    id: str
    directory_id: str
    project_id: str
    display_name: str
    unique_id: str
    file_id: str
    metadata: dict[str, Any]
    created_ms: int
    updated_ms: int
    deleted_ms: int = 0


@dataclass(frozen=True)
class Configuration:
    id: str
    project_id: str
    name: str
    product_type: str
    parameters: dict[str, Any]
    version_ms: int
    created_ms: int
    updated_ms: int


@dataclass(frozen=True)
class Index:
    id: str
    project_id: str
    name: str
    description: str
    source_directory_id: str
    output_directory_id: str
    export_config_id: str
    sync_config_id: str
    products: tuple[tuple[str, str], ...]  # (product_config_id, product_type)
    store_attachments: tuple[str, ...]
    sync_frequency: str
    vector_target: str
    collection_name: str  # empty when vector_target is DISABLED
    created_ms: int
    updated_ms: int

    @property
    def exports_vectors(self) -> bool:
        return self.vector_target == "DEFAULT"

    def config_id(self, product_type: str) -> str:
        return next((c for c, t in self.products if t == product_type), "")


@dataclass(frozen=True)
class IndexedFile:
    """What an index holds of one directory file: enough to tell, at the next sync, whether
    the file must be parsed or exported again."""

    parse_key: str  # content hash + parse settings the parsed output was made from
    export_key: str  # the parse_key (+ metadata) whose chunks are in the collection
    output_file_id: str  # the parsed output's directory file in the output directory
    display_name: str
    chunk_count: int
    token_count: int
    error: str = ""  # why parsing failed (the file is then left out)


@dataclass(frozen=True)
class IndexState:
    """The build state an index shows in `metadata`, with its sync times."""

    status: str = Status.PENDING
    error_message: str | None = None
    last_synced_ms: int = 0
    last_exported_ms: int = 0
    file_count: int = 0  # files of the source directory the index holds
    chunk_count: int = 0
    token_count: int = 0
    files_failed: tuple[dict[str, str], ...] = ()  # {directory_file_id, display_name, error}
    # While a sync runs: phase, files_done, files_total, chunks_done, chunks_total, and
    # loading_embedding_model while the node's first embedding call loads the model.
    progress: dict[str, int | str] | None = None
    last_sync: dict[str, Any] = field(default_factory=dict)  # outcome and counts of the last run
