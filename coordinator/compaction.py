"""Which segments compaction rewrites: per data node and partition, segments with deleted rows,
and small ones merged up to the seal size; and which of those groups are worth it unasked."""

from __future__ import annotations

from collections import defaultdict

from quiver.schema import Segment, SegmentState

# Automatic compaction (worth_compacting): the share of deleted rows, or the number of small
# segments merged, that makes a group worth rewriting unasked.
AUTO_COMPACT_DELETED_SHARE = 0.2
AUTO_COMPACT_SEGMENTS = 4


def compaction_plan(segments: list[Segment], seal_bytes: int) -> list[list[Segment]]:
    """Groups of flushed segments of one node and partition to rewrite as one segment each:
    segments with deleted rows, and small ones (under half the seal size) merged up to it."""
    groups: list[list[Segment]] = []
    by_place: defaultdict[tuple[str, int], list[Segment]] = defaultdict(list)
    for segment in segments:
        if segment.state is SegmentState.FLUSHED:
            by_place[(segment.node_id, segment.partition_id)].append(segment)
    for place in sorted(by_place):
        candidates = [
            s for s in sorted(by_place[place], key=lambda s: s.id)
            if s.deleted_count or s.data_bytes < seal_bytes // 2
        ]
        current: list[Segment] = []
        size = 0
        for segment in candidates:
            live_bytes = segment.data_bytes * segment.live_rows // max(segment.row_count, 1)
            if current and size + live_bytes > seal_bytes:
                groups.append(current)
                current, size = [], 0
            current.append(segment)
            size += live_bytes
        if current:
            groups.append(current)
    return [g for g in groups if len(g) > 1 or g[0].deleted_count]


def worth_compacting(group: list[Segment]) -> bool:
    """A group is compacted unasked when a fifth of one segment's rows are deleted (Milvus'
    threshold) or when it merges many small segments, each searched on its own until then."""
    return len(group) >= AUTO_COMPACT_SEGMENTS or any(
        s.deleted_count and s.deleted_count >= AUTO_COMPACT_DELETED_SHARE * s.row_count for s in group
    )
