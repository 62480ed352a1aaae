"""managed/wordpiece.py against the `tokenizers` library it stands in for: the same ids for the
same tokenizer.json, on prose in many scripts, on the edge cases of BERT's normaliser and on
random text.

The one known difference: tokenizers' character tables are older than Python's (Unicode 9 or
so), so characters assigned since (a few hundred marks and punctuation signs of rare scripts)
are letters to tokenizers and marks or punctuation to Python. Random text here is drawn from
characters whose category has not changed since Unicode 3.2, and from unassigned ones.
"""

from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from managed.embedding import MAX_TOKENS, TOKENIZER_FILE
from managed.wordpiece import WordPieceTokenizer

TEXTS = [
    "The lighthouse keeper feeds the three cats fresh sardines every morning at dawn.",
    "Résumé, naïve café: accents, an emoji 🙂 and CJK 向量数据库.",
    "Le chat dort sur la table de la cuisine. Der Straßenbahnfahrer grüßt höflich.",
    "Η ΣΟΦΙΑ ΤΟΥ ΣΩΚΡΑΤΗΣ και η γλώσσα. Москва — столица России. İstanbul ışıkları.",
    "مرحبا بالعالم. नमस्ते दुनिया। こんにちは、世界！ 안녕하세요 세계. สวัสดีชาวโลก",
    "Special tokens in the text: [CLS] x[SEP]y [MASK][PAD][UNK] [sep] [CLS",
    "Controls\x00dropped\x07and\vvertical\x0cfeeds, \x85next line, soft\u00adhyphen, zero\u200bwidth, \ufeffBOM",
    "Whitespace\tof\nevery\r\nkind:\u00a0nbsp\u2003em\u3000ideographic\u2028line\u2029para",
    "ASCII symbols are punctuation: $5+3=8 a^b `code` |pipe| ~tilde <tag> under_score #hash @at",
    "Unicode punctuation: «quotes» „low“ ‘single’ — dash – en … ellipsis ¿qué? ¡sí! 【brackets】",
    "Compatibility ideographs 豈 更 and extension B 𠀀𠀁 are set apart; ﬁ ligature, ① circled, Ⅻ numeral",
    "A word past a hundred characters is unknown: " + "x" * 101 + " but one of a hundred is not: " + "y" * 100,
    "Combining marks: e\u0301 a\u0308 n\u0303 and a lone mark \u0301 between spaces; Hangul 한국어 decomposes",
    "unaffable unbelievably antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "",
    "   ",
    " ".join(f"Paragraph {n} of the quarterly report on regional revenue." for n in range(60)),
]


@pytest.fixture(scope="module")
def reference() -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding()  # to the longest text of each batch
    return tokenizer


@pytest.fixture(scope="module")
def wordpiece() -> WordPieceTokenizer:
    return WordPieceTokenizer(TOKENIZER_FILE, MAX_TOKENS)


def stable_random_texts(count: int, seed: int) -> list[str]:
    """Texts mixing ASCII with characters whose Unicode category is the same today as in
    Unicode 3.2 (or that are still unassigned), up to U+2FFFF."""

    def stable(code: int) -> bool:
        char = chr(code)
        category = unicodedata.category(char)
        return category != "Cs" and (category == "Cn" or unicodedata.ucd_3_2_0.category(char) == category)

    pool = [code for code in range(0x30000) if stable(code)]
    rng = random.Random(seed)
    return [
        "".join(
            chr(rng.choice(pool)) if rng.random() < 0.4 else rng.choice(" abcdefghijklmnop.,'-")
            for _ in range(rng.randrange(1, 80))
        )
        for _ in range(count)
    ]


def test_same_ids_as_tokenizers_on_prose_and_edge_cases(
    reference: Tokenizer, wordpiece: WordPieceTokenizer
) -> None:
    for text in TEXTS:
        assert wordpiece.ids(text) == reference.encode(text).ids, text


def test_same_ids_as_tokenizers_on_random_text(reference: Tokenizer, wordpiece: WordPieceTokenizer) -> None:
    for text in stable_random_texts(3000, seed=1):
        assert wordpiece.ids(text) == reference.encode(text).ids, ascii(text)


def test_long_texts_keep_their_first_tokens_within_the_limit(wordpiece: WordPieceTokenizer) -> None:
    ids = wordpiece.ids(TEXTS[-1])
    assert len(ids) == MAX_TOKENS
    assert ids[0] == 101 and ids[-1] == 102  # [CLS] ... [SEP]


def test_batches_are_padded_to_their_longest_text(reference: Tokenizer, wordpiece: WordPieceTokenizer) -> None:
    batch = wordpiece.encode_batch(TEXTS)
    expected = reference.encode_batch(TEXTS)
    np.testing.assert_array_equal(batch.input_ids, [e.ids for e in expected])
    np.testing.assert_array_equal(batch.attention_mask, [e.attention_mask for e in expected])
    np.testing.assert_array_equal(batch.token_type_ids, [e.type_ids for e in expected])
    assert batch.input_ids.dtype == batch.attention_mask.dtype == np.int64
    assert batch.input_ids.shape == (len(TEXTS), MAX_TOKENS)


def test_a_tokenizer_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    config = json.loads(TOKENIZER_FILE.read_text())
    config["normalizer"]["lowercase"] = False  # a cased model
    cased = tmp_path / "tokenizer.json"
    cased.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="normalizer"):
        WordPieceTokenizer(cased, MAX_TOKENS)
