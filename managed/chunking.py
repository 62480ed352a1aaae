"""Split a parsed document into overlapping chunks small enough to embed.

Chunks are spans of the document's full text (`ParsedDocument.text`, pages joined by a blank
line): `text == full_text[start_char:end_char]` always holds, so retrieval can point back into
the source. The defaults (800 characters, about 200 tokens of prose) fit all-MiniLM-L6-v2's
256-token window, past which the model silently drops the tail. Dense technical text (ids,
URLs, code) runs nearer 3 characters per token, so callers indexing it may want ~600.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from managed.parsing import PAGE_SEPARATOR, ParsedDocument

# Where a chunk may end, best first: the position is where the matched separator begins.
# Sentences rank above lines: PDF and plain-text lines are mostly layout, not meaning.
_BREAKS = (
    re.compile(r"\n[ \t]*\n"),  # paragraph
    re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s"),  # sentence end (maybe after a quote)
    re.compile(r"\n"),  # line (an HTML block, a list item, a heading)
    re.compile(r"\s"),  # word
)
_NON_SPACE = re.compile(r"\S")
_SPACE = re.compile(r"\s")
# A WordPiece tokenizer (MiniLM's) makes at least one token of every word and every
# punctuation mark; counting those is a cheap lower-bound estimate of the real count.
_TOKEN_LIKE = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    start_char: int  # offsets into ParsedDocument.text; end is exclusive
    end_char: int
    page_start: int  # page numbers (Page.number) of the chunk's first and last character
    page_end: int
    token_count: int  # estimate: words plus punctuation marks (see _TOKEN_LIKE)


def chunk_document(
    doc: ParsedDocument, size_chars: int = 800, overlap_chars: int = 100
) -> list[Chunk]:
    """Chunks of at most `size_chars`, each starting about `overlap_chars` before the last ended.

    A chunk ends at the best boundary (paragraph, sentence, line, word) that still fills at
    least half of `size_chars`; it is cut mid-word only when that half holds no whitespace.
    Chunks never start or end with whitespace; a document without text has no chunks.
    """
    if size_chars < 1 or not 0 <= overlap_chars < size_chars:
        raise ValueError("need size_chars >= 1 and 0 <= overlap_chars < size_chars")
    text = doc.text
    text_end = len(text.rstrip())
    page_starts = _page_start_offsets(doc)
    page_numbers = [page.number for page in doc.pages]
    chunks: list[Chunk] = []
    start = fresh = _skip_space(text, 0)  # fresh: the first character in no chunk yet
    while fresh < text_end:
        end = _chunk_end(text, start, fresh, text_end, size_chars)
        chunks.append(_make_chunk(len(chunks), text, start, end, page_starts, page_numbers))
        fresh = _skip_space(text, end)
        start = _overlapping_start(text, start, end, fresh, size_chars, overlap_chars)
    return chunks


def _page_start_offsets(doc: ParsedDocument) -> list[int]:
    offsets, offset = [], 0
    for page in doc.pages:
        offsets.append(offset)
        offset += len(page.text) + len(PAGE_SEPARATOR)
    return offsets


def _chunk_end(text: str, start: int, fresh: int, text_end: int, size: int) -> int:
    """End of the chunk at `start`: past `fresh`, so that it is never a repeat of the last one."""
    limit = start + size
    if limit >= text_end:
        return text_end
    lowest = max(start + size // 2, fresh + 1)
    end = limit  # no boundary in the window's second half: cut the over-long word
    for pattern in _BREAKS:
        # endpos limit + 1: a separator beginning just past the window still ends a full chunk.
        breaks = [m.start() for m in pattern.finditer(text, lowest, limit + 1)]
        if breaks:
            end = breaks[-1]
            break
    return start + len(text[start:end].rstrip())


def _overlapping_start(
    text: str, start: int, end: int, fresh: int, size: int, overlap: int
) -> int:
    """The first word beginning at most `overlap` before `end`, or `fresh` if there is none.

    Also `fresh` when a chunk from that word could not reach `fresh` (a long run of whitespace).
    """
    candidate = end - overlap
    if candidate <= start:
        return fresh
    if not text[candidate - 1].isspace():  # inside a word: move to the next one
        space = _SPACE.search(text, candidate, end)
        candidate = space.start() if space else end
    candidate = _skip_space(text, candidate)
    return candidate if fresh - candidate < size else fresh


def _skip_space(text: str, position: int) -> int:
    match = _NON_SPACE.search(text, position)
    return match.start() if match else len(text)


def _make_chunk(
    index: int, text: str, start: int, end: int, page_starts: list[int], page_numbers: list[int]
) -> Chunk:
    """`page_numbers` are the pages' own numbers: a document of selected pages keeps them."""
    piece = text[start:end]
    return Chunk(
        index=index,
        text=piece,
        start_char=start,
        end_char=end,
        page_start=page_numbers[bisect.bisect_right(page_starts, start) - 1],
        page_end=page_numbers[bisect.bisect_right(page_starts, end - 1) - 1],
        token_count=len(_TOKEN_LIKE.findall(piece)),
    )
