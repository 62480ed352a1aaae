"""MiniLM's tokenizer (BERT's uncased WordPiece) in Python, read from the model's tokenizer.json.

The `tokenizers` library would do the same, but it requires huggingface_hub and, through it,
hf-xet, fsspec and an HTTP stack: about 38 MB of the default install for a tokenizer that needs
none of them. This module does what `Tokenizer.from_file(...)` does with this file, truncating
and padding as `enable_truncation(max_tokens)` and `enable_padding()` do, and gives the same ids
(tests/managed/test_wordpiece.py compares the two on many texts).

The steps, as tokenizers' BertNormalizer, BertPreTokenizer, WordPiece and TemplateProcessing do:
1. the special tokens ([CLS], [SEP], ...) are matched in the raw text and kept whole;
2. every other character is normalised on its own: control characters dropped, whitespace made
   a space, CJK ideographs set apart by spaces, accents stripped (NFD without its non-spacing
   marks), lowercased; punctuation is then set apart by spaces too, so that splitting on spaces
   gives the pre-tokenizer's words;
3. each word becomes its longest vocabulary pieces from the left (`##` on all but the first),
   or [UNK] when some part has no piece or the word is too long;
4. the ids are truncated to leave room for [CLS] and [SEP], which enclose them.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# CJK ideographs that BERT's normaliser surrounds with spaces (tokenizers' is_chinese_char).
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# Rust's char::is_whitespace (Unicode White_Space), which the normaliser turns into spaces.
_WHITESPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    map(chr, range(0x2000, 0x200B))
)
# tokenizers' "other" characters but for Cn: Unicode categories Cc, Cf, Co and Cs.
_DROPPED = frozenset({"Cc", "Cf", "Co", "Cs"})
# What this module implements; a tokenizer.json asking for anything else is refused.
_EXPECTED_PIPELINE = {
    "normalizer": {
        "type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
        "strip_accents": None, "lowercase": True,
    },
    "pre_tokenizer": {"type": "BertPreTokenizer"},
}


def _is_punctuation(char: str) -> bool:
    # ASCII punctuation includes symbols such as $ + < = > ^ ` | ~, which Unicode does not.
    return (char.isascii() and not char.isalnum() and char.isprintable() and char != " ") or \
        unicodedata.category(char).startswith("P")


def _normalised(char: str) -> str:
    """The normaliser's output for one character, punctuation set apart by spaces."""
    # Control, format, private-use and surrogate characters are dropped (unassigned ones are
    # kept), but tabs and line breaks are whitespace; dropping comes first (a vertical tab is).
    if char in ("\x00", "\ufffd") or (unicodedata.category(char) in _DROPPED and char not in "\t\n\r"):
        return ""
    if char in _WHITESPACE:
        return " "
    code = ord(char)
    if any(low <= code <= high for low, high in _CJK_RANGES):
        return f" {unicodedata.normalize('NFD', char)} "
    stripped = "".join(c for c in unicodedata.normalize("NFD", char) if unicodedata.category(c) != "Mn")
    return "".join(f" {c} " if _is_punctuation(c) else c for c in stripped.lower())


class _NormalisationTable(dict[int, str]):
    """A str.translate table computed one code point at a time, on first sight."""

    def __missing__(self, code: int) -> str:
        self[code] = replacement = _normalised(chr(code))
        return replacement


@dataclass(frozen=True)
class Batch:
    """Token ids of a batch of texts, padded to the longest, as the model's inputs want them."""

    input_ids: np.ndarray  # int64 [texts, tokens]
    attention_mask: np.ndarray  # 1 for real tokens, 0 for padding
    token_type_ids: np.ndarray  # all 0: one sequence per text


class WordPieceTokenizer:
    """Tokenizes as the `tokenizers` library does with a BERT tokenizer.json (see the module)."""

    def __init__(self, tokenizer_file: Path, max_tokens: int) -> None:
        config = json.loads(tokenizer_file.read_text())
        for step, expected in _EXPECTED_PIPELINE.items():
            if config[step] != expected:
                raise ValueError(f"{tokenizer_file}: {step} {config[step]} is not {expected}")
        model = config["model"]
        if model["type"] != "WordPiece":
            raise ValueError(f"{tokenizer_file}: the model is {model['type']}, not WordPiece")
        self._vocab: dict[str, int] = model["vocab"]
        self._unknown = self._vocab[model["unk_token"]]
        self._prefix = model["continuing_subword_prefix"]
        self._max_word_chars = model["max_input_chars_per_word"]
        self._cls = self._vocab["[CLS]"]
        self._sep = self._vocab["[SEP]"]
        self._pad = config["padding"]["pad_id"] if config.get("padding") else 0
        self._max_content_tokens = max_tokens - 2  # [CLS] and [SEP]
        self._special = {token["content"]: token["id"] for token in config["added_tokens"] if token["special"]}
        self._special_pattern = re.compile("(" + "|".join(map(re.escape, self._special)) + ")")
        self._table = _NormalisationTable()
        self._word_ids = functools.lru_cache(maxsize=65536)(self._wordpiece)

    def ids(self, text: str) -> list[int]:
        """The ids of one text: [CLS], its tokens (truncated), [SEP]."""
        ids: list[int] = []
        # re.split with a group keeps the special tokens, at the odd positions.
        for position, part in enumerate(self._special_pattern.split(text)):
            if position % 2:
                ids.append(self._special[part])
            else:
                for word in part.translate(self._table).split():
                    ids.extend(self._word_ids(word))
        return [self._cls, *ids[: self._max_content_tokens], self._sep]

    def encode_batch(self, texts: list[str]) -> Batch:
        rows = [self.ids(text) for text in texts]
        width = max(map(len, rows))
        input_ids = np.full((len(rows), width), self._pad, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for index, row in enumerate(rows):
            input_ids[index, : len(row)] = row
            attention_mask[index, : len(row)] = 1
        return Batch(input_ids, attention_mask, np.zeros_like(input_ids))

    def _wordpiece(self, word: str) -> tuple[int, ...]:
        """The word's longest pieces from the left, or [UNK] alone when that fails."""
        if len(word) > self._max_word_chars:
            return (self._unknown,)
        pieces = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else self._prefix + word[start:end]
                if piece in self._vocab:
                    pieces.append(self._vocab[piece])
                    start = end
                    break
            else:
                return (self._unknown,)
        return tuple(pieces)
