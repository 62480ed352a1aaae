"""Milvus filter expressions: quiver.filters against a plain per-row Python reference.

The reference below re-states the documented semantics (three-valued logic for nulls, a
missing or differently typed JSON value is unequal to everything, C-style integer division)
row by row, independently of the vectorised implementation.
"""

from __future__ import annotations

import math
import operator
import random
import re
import time
from collections.abc import Callable

import numpy as np
import orjson
import pyarrow as pa
import pytest

from quiver.errors import ErrorCode, QuiverError
from quiver.filters import (
    DYNAMIC_COLUMN,
    MAX_DEPTH,
    MAX_EXPRESSION_BYTES,
    FieldKind,
    FilterField,
    FilterSchema,
    SortedIndex,
    parse_filter,
)

FIELDS = {
    f.name: f
    for f in [
        FilterField("id", FieldKind.INT),
        FilterField("age", FieldKind.INT),
        FilterField("score", FieldKind.FLOAT),
        FilterField("weight", FieldKind.FLOAT),
        FilterField("name", FieldKind.STRING),
        FilterField("flag", FieldKind.BOOL),
        FilterField("meta", FieldKind.JSON),
        FilterField("nums", FieldKind.ARRAY, FieldKind.INT),
        FilterField("words", FieldKind.ARRAY, FieldKind.STRING),
    ]
}
SCHEMA = FilterSchema(FIELDS, dynamic_field=True)
STATIC = FilterSchema(FIELDS)
ROWS = 2000


# --- the data: one dict per row, and the same rows as a pyarrow table


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NULL_ROW = _Sentinel("NULL_ROW")  # the JSON column is null
MISS = _Sentinel("MISS")  # a JSON path that leads nowhere (or to a JSON null)


def _maybe(rng: random.Random, value: object, null_rate: float = 0.1) -> object:
    return None if rng.random() < null_rate else value


def _meta(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.08:
        return NULL_ROW
    if roll < 0.12:
        return rng.choice([5, "text", [1, 2], [3]])  # documents that are not objects
    candidates = {
        "brand": lambda: rng.choice(["Sony", "Apple", "LG", "sony", "Samsung"]),
        "price": lambda: rng.choice(
            [rng.randint(0, 200), rng.randint(0, 200) + 0.5, "12", True, None, 100]
        ),
        "a": lambda: {"b": rng.choice([rng.randint(0, 10), "x", 2.5])} if rng.random() < 0.9 else {},
        "list": lambda: [rng.randint(0, 5) for _ in range(rng.randint(0, 4))],
        "tags": lambda: rng.sample(["red", "green", "blue", "sale"], rng.randint(0, 3)),
        "flag": lambda: rng.random() < 0.5,
        "n": lambda: None,
    }
    return {key: make() for key, make in candidates.items() if rng.random() < 0.7}


def _dynamic(rng: random.Random) -> dict:
    candidates = {
        "color": lambda: rng.choice(["red", "green", "blue", "Red", 7]),
        "size": lambda: rng.choice([rng.randint(0, 6), rng.randint(0, 6) + 0.25]),
        "tags": lambda: rng.sample(["hot", "cold", "new"], rng.randint(0, 2)),
        "extra": lambda: {"deep": rng.randint(0, 9)},
    }
    return {key: make() for key, make in candidates.items() if rng.random() < 0.75}


NAMES = ["alpha", "beta", "gamma", "Gamma", "a_b", "axb", "50%", "50x", "back\\slash", "émile", "", "zeta"]


def make_rows(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        rows.append(
            {
                "id": i,
                "age": _maybe(rng, rng.randint(-20, 100)),
                "score": _maybe(rng, round(rng.uniform(-5, 5), 3)),
                "weight": _maybe(rng, float(np.float32(rng.choice([0.1, 0.5, 2.25, 7.7])))),
                "name": _maybe(rng, rng.choice(NAMES) + rng.choice(["", "", "1"])),
                "flag": _maybe(rng, rng.random() < 0.5),
                "meta": _meta(rng),
                "nums": _maybe(rng, [rng.randint(0, 9) for _ in range(rng.randint(0, 5))]),
                "words": _maybe(rng, rng.sample(["red", "green", "blue", "x_y"], rng.randint(0, 3))),
                "dyn": _dynamic(rng),
            }
        )
    return rows


def make_table(rows: list[dict]) -> pa.Table:
    column = lambda key: [r[key] for r in rows]  # noqa: E731
    return pa.table(
        {
            "id": pa.array(column("id"), pa.int64()),
            "age": pa.array(column("age"), pa.int64()),
            "score": pa.array(column("score"), pa.float64()),
            "weight": pa.array(column("weight"), pa.float32()),
            "name": pa.array(column("name"), pa.string()),
            "flag": pa.array(column("flag"), pa.bool_()),
            "meta": pa.array(
                [None if m is NULL_ROW else orjson.dumps(m).decode() for m in column("meta")],
                pa.string(),
            ),
            "nums": pa.array(column("nums"), pa.list_(pa.int64())),
            "words": pa.array(column("words"), pa.list_(pa.string())),
            DYNAMIC_COLUMN: pa.array([orjson.dumps(d).decode() for d in column("dyn")], pa.string()),
        }
    )


DATA = make_rows(ROWS, seed=20240611)
# Two chunks, so evaluation also sees chunked columns.
TABLE = pa.concat_tables([make_table(DATA[:700]), make_table(DATA[700:])])


# --- the reference semantics, per row (None is unknown)

OPS: dict[str, Callable[[object, object], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def num(v: object) -> bool:
    return type(v) in (int, float)


def cmp(a: object, op: str, b: object) -> bool | None:
    if a is None or b is None:
        return None
    if a is MISS or b is MISS:
        return op == "!="
    if (num(a) and num(b)) or (type(a) is type(b) and type(a) in (str, bool)):
        return OPS[op](a, b)
    return op == "!="  # different types: unequal


def AND(*xs: bool | None) -> bool | None:
    if any(x is False for x in xs):
        return False
    return None if any(x is None for x in xs) else True


def OR(*xs: bool | None) -> bool | None:
    if any(x is True for x in xs):
        return True
    return None if any(x is None for x in xs) else False


def NOT(x: bool | None) -> bool | None:
    return None if x is None else not x


def isin(a: object, items: list) -> bool | None:
    if a is None:
        return None
    return any(cmp(a, "==", item) is True for item in items)


def trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def arith(op: str, a: object, b: object, as_int: bool = False) -> object:
    """int op int stays int (C division); anything else, JSON numbers included, is float."""
    if a is None or b is None:
        return None
    if not (num(a) and num(b)):
        return MISS
    if not as_int:
        a, b = float(a), float(b)
    if op in ("/", "%") and b == 0:
        return None
    if op == "/":
        return trunc_div(a, b) if as_int else a / b
    if op == "%":
        return a - b * trunc_div(a, b) if as_int else math.fmod(a, b)
    return {"+": operator.add, "-": operator.sub, "*": operator.mul, "**": operator.pow}[op](a, b)


def jget(doc: object, *keys: str | int) -> object:
    if doc is NULL_ROW:
        return None
    for key in keys:
        if isinstance(key, str) and isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif isinstance(key, int) and isinstance(doc, list) and key < len(doc):
            doc = doc[key]
        else:
            return MISS
    return MISS if doc is None else doc


def has(doc: object, *keys: str) -> bool | None:
    if doc is NULL_ROW:
        return None
    for key in keys:
        if not (isinstance(doc, dict) and key in doc):
            return False
        doc = doc[key]
    return True


def like(v: object, pattern: str) -> bool | None:
    if v is None:
        return None
    if not isinstance(v, str):
        return False
    regex, chars = "", iter(pattern)
    for ch in chars:
        if ch == "\\":
            regex += re.escape(next(chars))
        else:
            regex += {"%": ".*", "_": "."}.get(ch, re.escape(ch))
    return re.fullmatch(regex, v, re.DOTALL) is not None


def elem(lst: list | None, i: int) -> object:
    if lst is None:
        return None
    return lst[i] if i < len(lst) else MISS


def length(v: object) -> object:
    if v is None:
        return None
    return len(v) if isinstance(v, list) else MISS


def strict_eq(a: object, b: object) -> bool:
    if num(a) and num(b):
        return a == b
    if isinstance(b, list):
        return isinstance(a, list) and len(a) == len(b) and all(map(strict_eq, a, b))
    return type(a) is type(b) and a == b


def contains(v: object, items: list, require_all: bool) -> bool | None:
    if v is None:
        return None
    if not isinstance(v, list):
        return False
    found = [any(strict_eq(e, item) for e in v) for item in items]
    return all(found) if require_all else any(found)


def f32(v: float | None) -> float | None:
    """The float32 nearest to v: Milvus casts a literal to a float field's width."""
    return None if v is None else float(np.float32(v))


def m(r: dict, *keys: str | int) -> object:
    return jget(r["meta"], *keys)


def d(r: dict, *keys: str | int) -> object:
    return jget(r["dyn"], *keys)


# --- expressions and their per-row references

CASES: list[tuple[str, Callable[[dict], bool | None]]] = [
    # comparisons on typed fields
    ("age > 30", lambda r: cmp(r["age"], ">", 30)),
    ("age >= 30 and age <= 40", lambda r: AND(cmp(r["age"], ">=", 30), cmp(r["age"], "<=", 40))),
    ("30 <= age", lambda r: cmp(30, "<=", r["age"])),
    ("age != 17", lambda r: cmp(r["age"], "!=", 17)),
    ("score < 0.5", lambda r: cmp(r["score"], "<", 0.5)),
    ("score >= -1.25e0", lambda r: cmp(r["score"], ">=", -1.25)),
    ("score > 1E-3", lambda r: cmp(r["score"], ">", 0.001)),
    ("score > .5", lambda r: cmp(r["score"], ">", 0.5)),
    ("age < score", lambda r: cmp(r["age"], "<", r["score"])),
    ("age > id", lambda r: cmp(r["age"], ">", r["id"])),
    ("age == 0x1A or age == 0b101 or age == 017", lambda r: isin(r["age"], [26, 5, 15])),
    ('name == "alpha"', lambda r: cmp(r["name"], "==", "alpha")),
    ("name != 'beta'", lambda r: cmp(r["name"], "!=", "beta")),
    ('name > "beta"', lambda r: cmp(r["name"], ">", "beta")),
    (r'name == "\u00e9mile" or name == "\x61xb"', lambda r: isin(r["name"], ["émile", "axb"])),
    (r"name == 'back\\slash'", lambda r: cmp(r["name"], "==", "back\\slash")),
    ("weight == 0.1", lambda r: cmp(r["weight"], "==", f32(0.1))),
    ("weight > 0.5", lambda r: cmp(r["weight"], ">", f32(0.5))),
    # in / not in
    ('name in ["alpha", "Gamma", "50%"]', lambda r: isin(r["name"], ["alpha", "Gamma", "50%"])),
    ('name not in ["alpha", "beta",]', lambda r: NOT(isin(r["name"], ["alpha", "beta"]))),
    ("id in [1, 5, 7, 1999, 4000]", lambda r: isin(r["id"], [1, 5, 7, 1999, 4000])),
    ("id NOT IN [0, 1, 2]", lambda r: NOT(isin(r["id"], [0, 1, 2]))),
    ("age in [1.5, 20, 30.0, -3]", lambda r: isin(r["age"], [1.5, 20, 30.0, -3])),
    ("age in []", lambda r: isin(r["age"], [])),
    # booleans
    ("flag", lambda r: r["flag"]),
    ("not flag", lambda r: NOT(r["flag"])),
    ("flag == true", lambda r: cmp(r["flag"], "==", True)),
    ("flag != False", lambda r: cmp(r["flag"], "!=", False)),
    ("flag == TRUE and age > 50", lambda r: AND(cmp(r["flag"], "==", True), cmp(r["age"], ">", 50))),
    ("not not flag", lambda r: r["flag"]),
    ("true", lambda r: True),
    ("false or age < 0", lambda r: cmp(r["age"], "<", 0)),
    # like
    ('name like "al%"', lambda r: like(r["name"], "al%")),
    ('name like "%ma"', lambda r: like(r["name"], "%ma")),
    ('name LIKE "%am%"', lambda r: like(r["name"], "%am%")),
    ('name like "a_b%"', lambda r: like(r["name"], "a_b%")),
    (r'name like "50\\%%"', lambda r: like(r["name"], "50\\%%")),
    (r'name like "%\\\\%"', lambda r: like(r["name"], "%\\\\%")),
    ('name like "é%"', lambda r: like(r["name"], "é%")),
    ('name like ""', lambda r: like(r["name"], "")),
    # nulls
    ("age is null", lambda r: r["age"] is None),
    ("score IS NOT NULL", lambda r: r["score"] is not None),
    ("meta is null", lambda r: r["meta"] is NULL_ROW),
    ("nums is not null and age is null", lambda r: r["nums"] is not None and r["age"] is None),
    # arithmetic
    ("age * 2 > 100", lambda r: cmp(arith("*", r["age"], 2, True), ">", 100)),
    ("age % 3 == 0", lambda r: cmp(arith("%", r["age"], 3, True), "==", 0)),
    ("age % 7 == -3", lambda r: cmp(arith("%", r["age"], 7, True), "==", -3)),
    ("age / 7 == -2", lambda r: cmp(arith("/", r["age"], 7, True), "==", -2)),
    ("age / 2.0 > 10.25", lambda r: cmp(arith("/", r["age"], 2.0), ">", 10.25)),
    ("score * 2 + 1 > 2", lambda r: cmp(arith("+", arith("*", r["score"], 2), 1), ">", 2)),
    ("-age > 5", lambda r: cmp(arith("*", r["age"], -1, True), ">", 5)),
    ("age ** 2 > 400", lambda r: cmp(arith("**", r["age"], 2), ">", 400)),
    ("2 ** 3 ** 2 == age", lambda r: cmp(64.0, "==", r["age"])),  # left-associative, as Milvus
    ("age + 1 * 2 == 12", lambda r: cmp(arith("+", r["age"], 2, True), "==", 12)),
    ("(age + 1) * 2 == 12", lambda r: cmp(arith("*", arith("+", r["age"], 1, True), 2, True), "==", 12)),
    ("age - 2 - 3 == 10", lambda r: cmp(r["age"], "==", 15)),
    ("age * score > 10", lambda r: cmp(arith("*", r["age"], r["score"]), ">", 10)),
    (
        "age / (id % 5) > 3",
        lambda r: cmp(arith("/", r["age"], arith("%", r["id"], 5, True), True), ">", 3),
    ),
    ("age > -(-3 + 2 * 4)", lambda r: cmp(r["age"], ">", -5)),
    # chained ranges
    ("1 < age < 50", lambda r: AND(cmp(1, "<", r["age"]), cmp(r["age"], "<", 50))),
    ("50 >= age > 10", lambda r: AND(cmp(50, ">=", r["age"]), cmp(r["age"], ">", 10))),
    ("-1.5 <= score <= 1.5", lambda r: AND(cmp(-1.5, "<=", r["score"]), cmp(r["score"], "<=", 1.5))),
    (
        "10 < age + 0 < 20 and flag",
        lambda r: AND(cmp(10, "<", r["age"]), cmp(r["age"], "<", 20), r["flag"]),
    ),
    # logic, precedence, negation under nulls
    (
        "age > 10 or score > 0 and flag",
        lambda r: OR(cmp(r["age"], ">", 10), AND(cmp(r["score"], ">", 0), r["flag"])),
    ),
    (
        "(age > 10 or score > 0) and flag",
        lambda r: AND(OR(cmp(r["age"], ">", 10), cmp(r["score"], ">", 0)), r["flag"]),
    ),
    ("not age > 10 and score > 0", lambda r: AND(NOT(cmp(r["age"], ">", 10)), cmp(r["score"], ">", 0))),
    (
        "not (age > 10 and score > 0)",
        lambda r: NOT(AND(cmp(r["age"], ">", 10), cmp(r["score"], ">", 0))),
    ),
    ("NOT (age > 10 OR score > 0)", lambda r: NOT(OR(cmp(r["age"], ">", 10), cmp(r["score"], ">", 0)))),
    (
        'age > 90 || name == "zeta" && !flag',
        lambda r: OR(cmp(r["age"], ">", 90), AND(cmp(r["name"], "==", "zeta"), NOT(r["flag"]))),
    ),
    (
        'age > 10 AND age < 20 OR name == "beta"',
        lambda r: OR(AND(cmp(r["age"], ">", 10), cmp(r["age"], "<", 20)), cmp(r["name"], "==", "beta")),
    ),
    ("!(age < 0) && !(score < 0)", lambda r: AND(NOT(cmp(r["age"], "<", 0)), NOT(cmp(r["score"], "<", 0)))),
    # JSON field
    ('meta["brand"] == "Sony"', lambda r: cmp(m(r, "brand"), "==", "Sony")),
    ('meta["brand"] != "Sony"', lambda r: cmp(m(r, "brand"), "!=", "Sony")),
    ('meta["price"] > 100', lambda r: cmp(m(r, "price"), ">", 100)),
    ('meta["price"] == 12', lambda r: cmp(m(r, "price"), "==", 12)),
    ('meta["price"] == "12"', lambda r: cmp(m(r, "price"), "==", "12")),
    ('meta["price"] != 100', lambda r: cmp(m(r, "price"), "!=", 100)),
    ('meta["price"] * 2 >= 150', lambda r: cmp(arith("*", m(r, "price"), 2), ">=", 150)),
    ('meta["price"] / 4 == 25.125', lambda r: cmp(arith("/", m(r, "price"), 4), "==", 25.125)),
    ('meta["price"] * 2 != 100', lambda r: cmp(arith("*", m(r, "price"), 2), "!=", 100)),
    ('meta["a"]["b"] == 3', lambda r: cmp(m(r, "a", "b"), "==", 3)),
    ('meta["a"]["b"] < 5', lambda r: cmp(m(r, "a", "b"), "<", 5)),
    ('meta["list"][0] == 1', lambda r: cmp(m(r, "list", 0), "==", 1)),
    ('meta["list"][2] != 3', lambda r: cmp(m(r, "list", 2), "!=", 3)),
    ('json_contains(meta["tags"], "sale")', lambda r: contains(m(r, "tags"), ["sale"], False)),
    (
        'JSON_CONTAINS_ALL(meta["tags"], ["red", "blue"])',
        lambda r: contains(m(r, "tags"), ["red", "blue"], True),
    ),
    ('json_contains_any(meta["list"], [4, 5.0])', lambda r: contains(m(r, "list"), [4, 5.0], False)),
    ("json_contains(meta, 1)", lambda r: contains(m(r), [1], False)),
    ("not json_contains(meta, [1, 2])", lambda r: NOT(contains(m(r), [[1, 2]], False))),
    ('exists meta["a"]', lambda r: has(r["meta"], "a")),
    ('EXISTS meta["n"]', lambda r: has(r["meta"], "n")),  # present, though null
    ('not exists meta["brand"]', lambda r: NOT(has(r["meta"], "brand"))),
    ('meta["brand"] like "S%"', lambda r: like(m(r, "brand"), "S%")),
    ('meta["brand"] in ["LG", "Apple"]', lambda r: isin(m(r, "brand"), ["LG", "Apple"])),
    ('meta["price"] in [1, 2, 3, "12", true]', lambda r: isin(m(r, "price"), [1, 2, 3, "12", True])),
    ('meta["price"] not in [10, 20]', lambda r: NOT(isin(m(r, "price"), [10, 20]))),
    ('meta["flag"]', lambda r: cmp(m(r, "flag"), "==", True)),
    ('meta["flag"] == false', lambda r: cmp(m(r, "flag"), "==", False)),
    ('not meta["flag"]', lambda r: NOT(cmp(m(r, "flag"), "==", True))),
    ('array_length(meta["list"]) == 2', lambda r: cmp(length(m(r, "list")), "==", 2)),
    ('meta["price"] > age', lambda r: cmp(m(r, "price"), ">", r["age"])),
    ('meta["a"]["b"] + age > 50', lambda r: cmp(arith("+", m(r, "a", "b"), r["age"]), ">", 50)),
    (
        'meta["brand"] == "Sony" and meta["price"] < 50 or meta["a"]["b"] == 1',
        lambda r: OR(
            AND(cmp(m(r, "brand"), "==", "Sony"), cmp(m(r, "price"), "<", 50)),
            cmp(m(r, "a", "b"), "==", 1),
        ),
    ),
    # ARRAY fields
    ("nums[0] == 1", lambda r: cmp(elem(r["nums"], 0), "==", 1)),
    ("nums[2] != 3", lambda r: cmp(elem(r["nums"], 2), "!=", 3)),
    ("nums[1] > nums[0]", lambda r: cmp(elem(r["nums"], 1), ">", elem(r["nums"], 0))),
    ("array_contains(nums, 3)", lambda r: contains(r["nums"], [3], False)),
    ("array_contains_all(nums, [1, 2])", lambda r: contains(r["nums"], [1, 2], True)),
    ("ARRAY_CONTAINS_ANY(nums, [7, 8])", lambda r: contains(r["nums"], [7, 8], False)),
    ("array_contains_all(nums, [])", lambda r: contains(r["nums"], [], True)),
    ("json_contains(nums, 2)", lambda r: contains(r["nums"], [2], False)),
    ("not array_contains(nums, 3)", lambda r: NOT(contains(r["nums"], [3], False))),
    ("array_length(nums) == 3", lambda r: cmp(length(r["nums"]), "==", 3)),
    (
        "ARRAY_LENGTH(nums) > array_length(words)",
        lambda r: cmp(length(r["nums"]), ">", length(r["words"])),
    ),
    ('array_contains(words, "x_y")', lambda r: contains(r["words"], ["x_y"], False)),
    ('words[0] like "r%"', lambda r: like(elem(r["words"], 0), "r%")),
    (
        "nums[0] * 2 == nums[1]",
        lambda r: cmp(arith("*", elem(r["nums"], 0), 2, True), "==", elem(r["nums"], 1)),
    ),
    # dynamic field
    ('color == "red"', lambda r: cmp(d(r, "color"), "==", "red")),
    ('$meta["color"] != "red"', lambda r: cmp(d(r, "color"), "!=", "red")),
    ("size > 3", lambda r: cmp(d(r, "size"), ">", 3)),
    ('json_contains(tags, "hot")', lambda r: contains(d(r, "tags"), ["hot"], False)),
    ('extra["deep"] % 2 == 0', lambda r: cmp(arith("%", d(r, "extra", "deep"), 2), "==", 0)),
    ('exists $meta["size"]', lambda r: has(r["dyn"], "size")),
    (
        'color in ["red", "blue"] and age > 20',
        lambda r: AND(isin(d(r, "color"), ["red", "blue"]), cmp(r["age"], ">", 20)),
    ),
    ('color like "%e%"', lambda r: like(d(r, "color"), "%e%")),
    ("size * 4 == 5", lambda r: cmp(arith("*", d(r, "size"), 4), "==", 5)),
]


def reference(check: Callable[[dict], bool | None], rows: list[dict]) -> np.ndarray:
    return np.array([check(r) is True for r in rows], dtype=bool)


@pytest.mark.parametrize(("expression", "check"), CASES, ids=[c[0] for c in CASES])
def test_matches_the_reference(expression: str, check: Callable[[dict], bool | None]) -> None:
    got = parse_filter(expression, SCHEMA).evaluate(TABLE)
    want = reference(check, DATA)
    assert got.dtype == np.bool_ and got.shape == (ROWS,)
    mismatched = np.flatnonzero(got != want)[:5].tolist()
    assert not mismatched, [(i, DATA[i]) for i in mismatched]


def test_the_cases_are_not_trivial() -> None:
    """Most cases match some rows and miss others, so a broken kernel cannot hide."""
    outcomes = {expression: reference(check, DATA) for expression, check in CASES}
    trivial = [e for e, flags in outcomes.items() if flags.all() or not flags.any()]
    assert trivial == ["age in []", "true"]


def test_a_slice_evaluates_like_the_whole() -> None:
    part = TABLE.slice(333, 1000)  # offsets into list columns and JSON start mid-array
    for expression, _ in CASES:
        parsed = parse_filter(expression, SCHEMA)
        assert np.array_equal(parsed.evaluate(part), parsed.evaluate(TABLE)[333:1333]), expression


def test_an_empty_table() -> None:
    empty = TABLE.slice(0, 0)
    for expression, _ in CASES:
        assert parse_filter(expression, SCHEMA).evaluate(empty).shape == (0,)


@pytest.mark.parametrize(
    ("expression", "columns"),
    [
        ("age > 1", {"age"}),
        ('meta["a"] == 1 and array_contains(nums, 1)', {"meta", "nums"}),
        ('color == "red" or $meta["size"] > 1', {DYNAMIC_COLUMN}),
        ("true", set()),
    ],
)
def test_columns(expression: str, columns: set[str]) -> None:
    parsed = parse_filter(expression, SCHEMA)
    assert parsed.columns == frozenset(columns) and parsed.expression == expression


@pytest.mark.parametrize(
    "expression",
    [
        "age > 1 and flag",
        "age > 1 AND flag",
        "age > 1 && flag",
        "true",
        "True",
        "TRUE",
        "age IN [1]",
        'name LIKE "a%"',
    ],
)
def test_keywords_are_lower_or_upper_case(expression: str) -> None:
    parse_filter(expression, SCHEMA)


def test_json_documents_are_parsed_once_per_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = parse_filter('meta["a"]["b"] > 1 or meta["brand"] == "LG" or 1 < meta["price"] < 9', SCHEMA)
    calls = []
    loads = orjson.loads
    monkeypatch.setattr(orjson, "loads", lambda text: calls.append(text) or loads(text))
    parsed.evaluate(TABLE)
    assert len(calls) == sum(r["meta"] is not NULL_ROW for r in DATA)


def test_json_integers_beyond_int64_compare_as_floats() -> None:
    table = pa.table({"meta": ['{"n": 18446744073709551615}', '{"n": 5}', '{"n": "5"}']})
    schema = FilterSchema({"meta": FilterField("meta", FieldKind.JSON)})
    assert parse_filter('meta["n"] > 10', schema).evaluate(table).tolist() == [True, False, False]


def test_a_long_or_list_is_not_deep() -> None:
    ids = list(range(0, 6000, 3))
    parsed = parse_filter(" or ".join(f"id == {i}" for i in ids), STATIC)
    assert np.array_equal(np.flatnonzero(parsed.evaluate(TABLE)), [i for i in ids if i < ROWS])


def test_parentheses_do_not_count_as_depth() -> None:
    parse_filter("(" * 1000 + "age > 1" + ")" * 1000, SCHEMA)
    parse_filter("not " * (MAX_DEPTH - 4) + "flag", SCHEMA)


BAD = [
    # syntax
    "age >",
    "age > > 1",
    "(age > 1",
    "age > 1)",
    "age = 1",
    "age > 1 age",
    '"unterminated',
    "age == 'new\nline'",
    "age == 1 @",
    "not",
    "in [1]",
    "age > 1 And age < 2",  # mixed-case keywords are names, as in Milvus
    "age == tRUE",
    "[1, 2]",
    "age in 1",
    "json_contains(meta)",
    # constants and literals
    "age == 99999999999999999999",
    "age == 09",
    "1 == 1",
    "age / 0 > 1",
    "age % (2 - 2) == 1",
    r'name == "bad \q escape"',
    r'name == "\uD800"',
    r'name == "\777"',
    r'name like "ends with \\"',
    # unknown names
    "colour == 1",
    '$meta["color"] == "red"',
    # types
    'age == "x"',
    "name > 3",
    "flag > true",
    "flag == 1",
    'age like "1%"',
    'age in [1, "x"]',
    "age in [[1]]",
    "age + name > 1",
    "-name > 1",
    "age",
    "age and flag",
    "(age > 1) + 1 > 2",
    "nums == 1",
    "nums[0] == 'x'",
    'nums["k"] == 1',
    "age[0] == 1",
    'meta["a"] == meta["b"]',
    "array_contains(age, 1)",
    'array_contains(nums, "x")',
    "array_contains_all(nums, 1)",
    "array_contains(nums, age)",
    "array_length(age) == 1",
    "exists age",
    'meta["a"] is null',
    "age == 1 == 1",
    "1 < age > 3",
    "1 in [1]",
]
# Errors even where unknown names are dynamic keys.
BAD_DYNAMIC = [
    "in [1]",  # keywords are reserved words, never names
    "and == 1",
    "true[0] == 1",
    "json_contains == 1",
    "$meta == 1",
    '$meta["a"] == $meta["b"]',
    'color == size',
    "color is null",
    'color["k"] > "a" > "b"',
]


@pytest.mark.parametrize(
    ("expression", "schema"),
    [(e, STATIC) for e in BAD] + [(e, SCHEMA) for e in BAD_DYNAMIC],
    ids=BAD + [f"dynamic: {e}" for e in BAD_DYNAMIC],
)
def test_bad_filters_are_invalid_parameters(expression: str, schema: FilterSchema) -> None:
    with pytest.raises(QuiverError) as raised:
        parse_filter(expression, schema)
    assert raised.value.code is ErrorCode.INVALID_PARAMETER
    assert raised.value.message.startswith("cannot parse expression: ")


@pytest.mark.parametrize("expression", ["", "   \n\t"])
def test_an_empty_filter_is_an_error(expression: str) -> None:
    with pytest.raises(QuiverError, match="empty") as raised:
        parse_filter(expression, SCHEMA)
    assert raised.value.code is ErrorCode.INVALID_PARAMETER


def test_unknown_names_need_the_dynamic_field() -> None:
    with pytest.raises(QuiverError, match="dynamic field is not enabled"):
        parse_filter('color == "red"', STATIC)


@pytest.mark.parametrize(
    "expression",
    [
        "not " * (MAX_DEPTH + 1) + "flag",
        "-" * (MAX_DEPTH + 1) + "age > 1",
        "age" + " + age" * (MAX_DEPTH + 1) + " > 1",
        "(" * 20000 + "not " * 100 + "flag" + ")" * 20000,
    ],
    ids=["not chain", "minus chain", "sum chain", "parenthesised not chain"],
)
def test_deep_filters_are_refused(expression: str) -> None:
    with pytest.raises(QuiverError, match="nested deeper") as raised:
        parse_filter(expression, SCHEMA)
    assert raised.value.code is ErrorCode.INVALID_PARAMETER


@pytest.mark.parametrize(
    "expression",
    ["[" * 60000, "(" * 60000, "not " * 16000 + "flag", "- " * 30000 + "1"],
    ids=["brackets", "parentheses", "nots", "minuses"],
)
def test_hostile_filters_fail_cleanly(expression: str) -> None:
    with pytest.raises(QuiverError) as raised:
        parse_filter(expression, SCHEMA)
    assert raised.value.code is ErrorCode.INVALID_PARAMETER


def test_long_filters_are_refused() -> None:
    longest = "id in [" + ",".join(["1"] * ((MAX_EXPRESSION_BYTES - 7) // 2)) + "]"
    assert len(longest) <= MAX_EXPRESSION_BYTES
    parse_filter(longest, SCHEMA)
    with pytest.raises(QuiverError, match="longer than") as raised:
        parse_filter(longest + " " * (MAX_EXPRESSION_BYTES + 1 - len(longest)), SCHEMA)
    assert raised.value.code is ErrorCode.INVALID_PARAMETER


def test_a_range_over_a_million_rows_is_vectorised() -> None:
    rng = np.random.default_rng(7)
    rows = 1_000_000
    age = rng.integers(-100, 100, rows)
    score = rng.random(rows)
    valid = rng.random(rows) > 0.05
    table = pa.table({"age": pa.array(age, mask=~valid), "score": pa.array(score)})
    parsed = parse_filter("age >= 10 and age < 50 or score * 2 > 1.9", SCHEMA)
    started = time.perf_counter()
    got = parsed.evaluate(table)
    elapsed = time.perf_counter() - started
    assert np.array_equal(got, (valid & (age >= 10) & (age < 50)) | (score * 2 > 1.9))
    assert elapsed < 2.0, f"{elapsed:.2f} s: something runs per row"


# -- scalar indexes ---------------------------------------------------------------------------------

INDEXED_EXPRESSIONS = [
    "age > 30", "age >= 30", "age < 30", "age <= 30", "age == 30", "age != 30",
    "30 < age", "age in [1, 30, 45]", "age not in [1, 30]", "age > 29.5", "10 < age < 20",
    'name == "n7"', 'name in ["n1", "n9", "zz"]', 'name != "n3" and age > 5',
    "weight == 0.1", "weight > 0.5", "not (age > 3)",
]


@pytest.mark.parametrize("expression", INDEXED_EXPRESSIONS)
def test_sorted_indexes_answer_like_a_scan(expression: str) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    ages = [None if i % 17 == 0 else int(rng.integers(0, 60)) for i in range(n)]
    names = [None if i % 23 == 0 else f"n{int(rng.integers(0, 20))}" for i in range(n)]
    weights = [0.1 if i % 5 == 0 else float(rng.random()) for i in range(n)]
    table = pa.table({"age": pa.array(ages, pa.int64()), "name": pa.array(names, pa.string()),
                      "weight": pa.array(weights, pa.float32())})
    schema = FilterSchema({
        "age": FilterField("age", FieldKind.INT),
        "name": FilterField("name", FieldKind.STRING),
        "weight": FilterField("weight", FieldKind.FLOAT),
    })
    condition = parse_filter(expression, schema)
    indexes = {name: SortedIndex(table.column(name)) for name in ("age", "name", "weight")}
    np.testing.assert_array_equal(condition.evaluate(table, indexes), condition.evaluate(table))
