"""The vocabulary of the managed-index API (LlamaCloud's), shared by the proxy, which validates
requests against it, and the ingest nodes, which keep the objects."""

from __future__ import annotations

from datetime import UTC, datetime

# One project holds everything, in one organisation. Their ids are fixed UUIDs, as LlamaCloud's
# are; requests naming another project get a 404, and so do the account calls (GET /projects)
# naming another organisation.
DEFAULT_PROJECT_ID = "00000000-0000-4000-8000-000000000001"
DEFAULT_PROJECT_NAME = "Default"
DEFAULT_ORGANIZATION_ID = "00000000-0000-4000-8000-000000000000"

DIRECTORY_TYPES = ("user", "ephemeral", "index")  # "index": an index's parsed output
FILE_PURPOSES = ("user_data", "parse", "extract", "split", "classify", "sheet", "agent_app")
PRODUCT_TYPES = ("parse_v2", "extract_v2", "classify_v2", "split_v1", "spreadsheet_v1", "unknown")
# An index's products[].product_type, and the configuration product type it must point at.
INDEX_PRODUCTS = {"parse": "parse_v2", "extract": "extract_v2"}
ATTACHMENT_KINDS = ("screenshots", "items")
SYNC_FREQUENCIES = ("manual", "daily", "on_source_change")
VECTOR_TARGETS = ("DEFAULT", "DISABLED")
FILTER_OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
MAX_TOP_K = 500  # retrieval caps top_k here, as LlamaCloud does


class Status:
    """metadata.status of an index."""

    PENDING = "pending"  # a sync is queued
    SYNCING = "syncing"  # parsing and chunking changed files
    EXPORTING = "exporting"  # embedding chunks and writing them to the collection
    READY = "ready"
    FAILED = "failed"


def iso_time(ms: int) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC with a Z (None for 0, "never")."""
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
