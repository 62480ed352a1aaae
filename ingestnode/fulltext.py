"""Full-text scoring for retrieval: the terms of a text, and Okapi BM25 over them.

Each chunk is stored with its distinct terms (an array field), so the collection itself answers
"which chunks hold this term" and "how many" with filters; BM25 then scores candidates with
exact corpus statistics. A library such as bm25s keeps its own inverted index of the whole
corpus in memory, which would duplicate the collection on every ingest node and go stale
with every sync; this needs none.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping

MAX_TERM_CHARS = 64
MAX_TERMS_PER_CHUNK = 1024
K1 = 1.2
B = 0.75

_WORD = re.compile(r"\w+")
# Words so common that they match most chunks and say nothing about any.
_STOPWORDS = frozenset(
    "a an and are as at be but by for from has have he her his i if in into is it its of on or "
    "our she so than that the their them then there these they this to was we were what when "
    "where which who will with you your".split()
)


def tokens(text: str) -> list[str]:
    """Lower-cased words of `text`, stopwords and single letters left out, in order."""
    words = (w.lower() for w in _WORD.findall(text))
    return [
        w for w in words
        if (len(w) > 1 or w.isdigit()) and len(w) <= MAX_TERM_CHARS and w not in _STOPWORDS
    ]


def distinct_terms(text: str) -> list[str]:
    """The terms a chunk is stored with: distinct, in order of first use, capped."""
    return list(dict.fromkeys(tokens(text)))[:MAX_TERMS_PER_CHUNK]


def bm25(
    query_terms: list[str],
    document: str,
    length: int,
    document_frequency: Mapping[str, int],
    documents: int,
    average_length: float,
) -> float:
    """Okapi BM25 of `document` (`length` tokens long, as the corpus average counts them) for
    the query; idf with +1 inside the log, so never negative."""
    counts = Counter(tokens(document))
    norm = K1 * (1 - B + B * length / average_length) if average_length > 0 else K1
    score = 0.0
    for term in query_terms:
        tf = counts.get(term, 0)
        df = document_frequency.get(term, 0)
        if tf and df:
            idf = math.log(1 + (documents - df + 0.5) / (df + 0.5))
            score += idf * tf * (K1 + 1) / (tf + norm)
    return score
