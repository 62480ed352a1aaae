"""chunk_document: its invariants on generated prose, and where it prefers to cut."""

from __future__ import annotations

import random
import re

import pytest

from managed.chunking import Chunk, chunk_document
from managed.parsing import Page, ParsedDocument

WORDS = (
    "harbour lantern quiet river stone signal morning copper window garden tide "
    "a of the and to in is it was for on with as at by an"
).split()
LONGEST_WORD = max(len(word) for word in WORDS)


def prose(generator: random.Random, paragraphs: int) -> str:
    """Paragraphs (blank-line separated) of sentences, some lines hard-wrapped like a PDF's."""

    def sentence() -> str:
        words = generator.choices(WORDS, k=generator.randint(4, 25))
        return " ".join(words).capitalize() + generator.choice([".", ".", "!", "?"])

    def paragraph() -> str:
        text = " ".join(sentence() for _ in range(generator.randint(1, 9)))
        return re.sub(r"(.{60,80}?) ", lambda m: m.group(1) + generator.choice([" ", "\n"]), text)

    return "\n\n".join(paragraph() for _ in range(paragraphs))


def document(*page_texts: str) -> ParsedDocument:
    pages = tuple(Page(number, text) for number, text in enumerate(page_texts, start=1))
    return ParsedDocument(pages, "txt")


def page_of(doc: ParsedDocument, offset: int) -> int:
    """The 1-based page holding `offset` of the full text, found by walking the pages."""
    page_start = 0
    for page in doc.pages:
        if offset < page_start + len(page.text):
            return page.number
        page_start += len(page.text) + 2
    raise AssertionError(f"offset {offset} is past the text")


def check_invariants(doc: ParsedDocument, chunks: list[Chunk], size: int) -> None:
    text = doc.text
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert text[chunk.start_char : chunk.end_char] == chunk.text
        assert 0 < len(chunk.text) <= size
        assert chunk.text == chunk.text.strip()
        assert chunk.page_start == page_of(doc, chunk.start_char)
        assert chunk.page_end == page_of(doc, chunk.end_char - 1)
        assert 0 < chunk.token_count <= len(chunk.text)
    for before, after in zip(chunks, chunks[1:]):
        assert before.start_char < after.start_char and before.end_char < after.end_char
    covered = [False] * len(text)
    for chunk in chunks:
        covered[chunk.start_char : chunk.end_char] = [True] * len(chunk.text)
    missed = [i for i, char in enumerate(text) if not char.isspace() and not covered[i]]
    assert not missed, f"text at {missed[:5]} is in no chunk"


@pytest.mark.parametrize(("size", "overlap"), [(800, 100), (300, 50), (120, 0), (60, 20)])
def test_invariants_hold_on_prose(size: int, overlap: int) -> None:
    generator = random.Random(size)
    doc = document(prose(generator, 12), "", prose(generator, 1), prose(generator, 30))
    chunks = chunk_document(doc, size_chars=size, overlap_chars=overlap)
    check_invariants(doc, chunks, size)
    for before, after in zip(chunks, chunks[1:]):
        shared = before.end_char - after.start_char
        # Word-aligned: the overlap loses at most the word that straddles its start.
        assert overlap - LONGEST_WORD - 1 <= shared <= overlap or (overlap == 0 and shared < 0)


def test_default_chunks_are_sized_for_the_model() -> None:
    doc = document(prose(random.Random(7), 40))
    chunks = chunk_document(doc)
    check_invariants(doc, chunks, 800)
    # More than half full (the cut is in the window's second half), under MiniLM's 256 tokens.
    assert all(len(chunk.text) > 400 for chunk in chunks[:-1])
    assert max(chunk.token_count for chunk in chunks) < 256


def test_cuts_prefer_paragraphs_then_sentences() -> None:
    paragraphs = [f"Paragraph {n} is short. It has two sentences." for n in range(40)]
    doc = document("\n\n".join(paragraphs))
    for chunk in chunk_document(doc, size_chars=200, overlap_chars=0):
        assert chunk.text.startswith("Paragraph") and chunk.text.endswith("sentences.")

    sentences = " ".join(f"Sentence number {n} ends here." for n in range(60))
    doc = document(sentences)
    for chunk in chunk_document(doc, size_chars=200, overlap_chars=40):
        assert chunk.text.endswith("ends here.")


def test_a_word_longer_than_a_chunk_is_cut_at_the_size() -> None:
    url = "https://example.com/" + "x" * 2000
    doc = document(f"See {url} for details.")
    chunks = chunk_document(doc, size_chars=500, overlap_chars=50)
    check_invariants(doc, chunks, 500)
    assert [len(chunk.text) for chunk in chunks[1:-1]] == [500] * (len(chunks) - 2)


def test_chunks_spanning_pages_report_both() -> None:
    doc = document("Alpha page ends here.", "Beta page starts here.", "Gamma.")
    (chunk,) = chunk_document(doc, size_chars=800)
    assert (chunk.page_start, chunk.page_end) == (1, 3)
    assert chunk.text == "Alpha page ends here.\n\nBeta page starts here.\n\nGamma."


def test_chunks_of_selected_pages_keep_the_page_numbers() -> None:
    doc = ParsedDocument((Page(3, "Third page."), Page(7, "Seventh page.")), "pdf")
    (chunk,) = chunk_document(doc)
    assert (chunk.page_start, chunk.page_end) == (3, 7)


def test_same_input_same_chunks() -> None:
    doc = document(prose(random.Random(3), 20))
    assert chunk_document(doc, 300, 60) == chunk_document(doc, 300, 60)


def test_token_count_counts_words_and_punctuation() -> None:
    (chunk,) = chunk_document(document("Hello, world! It's 2024."))
    assert chunk.token_count == 9  # Hello , world ! It ' s 2024 .


def test_empty_or_blank_documents_have_no_chunks() -> None:
    assert chunk_document(document("")) == []
    assert chunk_document(document(" \n\n ", "")) == []


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_bad_sizes_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_document(document("text"), size_chars=size, overlap_chars=overlap)
