"""Milvus 2.x boolean filter expressions: parsed once into a typed AST, evaluated over columns.

`parse_filter` turns a REST v2 `filter` string into a `Filter` (lark LALR parse, then a
transformer that resolves names against the schema and checks types); `Filter.evaluate` walks
the AST once over a pyarrow table and returns one flag per row. Schema columns are evaluated
with pyarrow.compute and numpy kernels; only JSON documents (parsed once per column per
evaluation) and the `json_contains*` family on them are walked row by row.

Semantics, where the Milvus documentation leaves room (Milvus' own planner and engine decided):

* Nulls use SQL's three-valued logic: a comparison with a null column value is unknown,
  `not unknown` stays unknown, `unknown and false` is false, `unknown or true` is true, and
  only rows that end up true match. So neither `age > 18` nor `not (age > 18)` matches a row
  whose age is null, as in Milvus (its engine masks negations with the validity bitmap).
  Milvus' engine differs in one corner: it counts `unknown and true` (or `unknown or false`)
  as a known false, so negating it matches; here it stays unknown and does not.
* A JSON key that is absent, or holds a value of another type than the other operand (a
  string never equals a number; ints and floats compare numerically), is *missing*: `!=`
  and `not in` are true for it and every other comparison is false, as in Milvus' JSON
  kernels. A JSON column that is null in a row is unknown, like any null.
* Keywords are exactly Milvus' tokens: all lower or all upper case (`and`/`AND`, `like`/`LIKE`,
  `json_contains`/`JSON_CONTAINS`), booleans also `True`/`False`.
* Precedence, loosest first: `or`, `and`, `not`, comparisons (`== != < <= > >=`, `in`,
  `like`, `is null`), `+ -`, `* / %`, unary minus, `**` (left-associative, as Milvus).
  Milvus binds `not` as tightly as unary minus; here `not a == b` means `not (a == b)`,
  which is the same for booleans and makes `not x > 1` valid instead of a type error.
* Arithmetic on two integers stays in int64 (wrapping on overflow): `/` truncates toward zero
  and `%` takes the dividend's sign, as in Milvus' C++ kernels; with a float operand it is
  float64; `**` is always float64. Division or modulo by zero has no value (unknown).
* `a < x < b` (or `a > x > b`) is `a < x and x < b`; other chains are errors.

Expressions longer than 64 KiB or with a syntax tree deeper than 64 levels are refused before
they are transformed, so hostile input cannot exhaust the stack. An empty filter is an error
too: callers that accept an empty filter must skip filtering rather than call this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import reduce

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from quiver.errors import ErrorCode, QuiverError

DYNAMIC_COLUMN = "$meta"
MAX_EXPRESSION_BYTES = 64 * 1024
MAX_DEPTH = 64
_INT64_MAX = 2**63 - 1


class FieldKind(Enum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STRING = "string"
    JSON = "json"
    ARRAY = "array"


@dataclass(frozen=True)
class FilterField:
    name: str
    kind: FieldKind
    element_kind: FieldKind | None = None  # for ARRAY: BOOL, INT, FLOAT or STRING


@dataclass(frozen=True)
class FilterSchema:
    fields: Mapping[str, FilterField]  # every scalar field a filter may name, the pk included
    dynamic_field: bool = False  # bare unknown names and $meta["k"] read DYNAMIC_COLUMN


def _error(message: str) -> QuiverError:
    return QuiverError(ErrorCode.INVALID_PARAMETER, f"cannot parse expression: {message}")


# --------------------------------------------------------------------------------------------
# Grammar

# Keywords are reserved words, as in Milvus' ANTLR lexer: the basic (not contextual) lexer is
# used, keyword terminals outrank NAME (priority 2), and `\b` keeps `android` or `island` a
# name. CMP outranks NOT so that `!=` is never lexed as `!` followed by `=`.
_GRAMMAR = r"""
?start: or_expr

// Logic: flat n-ary nodes, so long `or` lists of ids stay one level deep.
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr                         -> not_
         | condition

?condition: sum                                  // a bool field or JSON value on its own
          | sum CMP sum                          -> compare
          | sum CMP sum CMP sum                  -> chained_compare
          | sum _IN array                        -> in_list
          | sum _NOT _IN array                   -> not_in_list
          | sum _LIKE STRING                     -> like
          | sum IS_NULL                          -> is_null
          | sum IS_NOT_NULL                      -> is_not_null
          | _EXISTS reference                    -> exists
          | CONTAINS "(" sum "," (sum | array) ")"  -> contains

// Arithmetic: left-recursive, so a chain is as deep as it is long (the depth limit sees it).
?sum: product
    | sum "+" product                            -> add
    | sum "-" product                            -> sub
?product: unary
        | product "*" unary                      -> mul
        | product "/" unary                      -> div
        | product "%" unary                      -> mod
?unary: power
      | "-" unary                                -> neg
      | "+" unary
?power: atom
      | power "**" exponent                      -> pow
?exponent: atom
         | "-" exponent                          -> neg
         | "+" exponent

?atom: INT                                       -> int_literal
     | FLOAT                                     -> float_literal
     | STRING                                    -> string_literal
     | TRUE                                      -> true_literal
     | FALSE                                     -> false_literal
     | reference
     | LENGTH "(" reference ")"                  -> array_length
     | "(" or_expr ")"

// field, field["key"][0], arr[2], $meta["key"]
reference: (NAME | META) ("[" (STRING | INT) "]")*
array: "[" (_item ("," _item)* ","?)? "]"
_item: sum | array

_OR.2: /(or|OR)\b/ | "||"
_AND.2: /(and|AND)\b/ | "&&"
_NOT.2: /(not|NOT)\b/ | "!"
_IN.2: /(in|IN)\b/
_LIKE.2: /(like|LIKE)\b/
_EXISTS.2: /(exists|EXISTS)\b/
IS_NULL.2: /is\s+null\b|IS\s+NULL\b/
IS_NOT_NULL.2: /is\s+not\s+null\b|IS\s+NOT\s+NULL\b/
TRUE.2: /(true|True|TRUE)\b/
FALSE.2: /(false|False|FALSE)\b/
CONTAINS.2: /(json|array)_contains(_all|_any)?\b|(JSON|ARRAY)_CONTAINS(_ALL|_ANY)?\b/
LENGTH.2: /array_length\b|ARRAY_LENGTH\b/
CMP.3: /==|!=|<=|>=|<|>/
META: "$meta"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
FLOAT: /(\d+\.\d*|\.\d+)([eE][+-]?\d+)?|\d+[eE][+-]?\d+/
INT: /0[xX][0-9a-fA-F]+|0[bB][01]+|\d+/
// No raw newlines inside a literal; escapes are decoded (and checked) by _unquote.
STRING: /"([^"\\\r\n]|\\[^\r\n])*"|'([^'\\\r\n]|\\[^\r\n])*'/

%ignore /\s+/
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="basic")


# --------------------------------------------------------------------------------------------
# AST

Scalar = bool | int | float | str
Item = Scalar | tuple["Item", ...]  # an element of a list literal; a tuple is a nested array


class Value:
    """A node with one value per row."""

    kind: FieldKind


class Condition:
    """A node that is true, false or unknown per row."""


def _literal_kind(value: Scalar) -> FieldKind:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return FieldKind.BOOL
    if isinstance(value, int):
        return FieldKind.INT
    return FieldKind.FLOAT if isinstance(value, float) else FieldKind.STRING


@dataclass(frozen=True)
class Literal(Value):
    value: Scalar

    @property
    def kind(self) -> FieldKind:
        return _literal_kind(self.value)


@dataclass(frozen=True)
class FieldRef(Value):
    """A typed schema column (BOOL, INT, FLOAT, STRING or a whole ARRAY)."""

    field: FilterField

    @property
    def kind(self) -> FieldKind:
        return self.field.kind


@dataclass(frozen=True)
class JsonPath(Value):
    """A value inside a JSON column (a JSON field or DYNAMIC_COLUMN); no keys: the document."""

    column: str
    keys: tuple[str | int, ...]
    kind = FieldKind.JSON


@dataclass(frozen=True)
class Element(Value):
    array: FilterField
    index: int

    @property
    def kind(self) -> FieldKind:
        assert self.array.element_kind is not None
        return self.array.element_kind


@dataclass(frozen=True)
class Length(Value):
    target: FieldRef | JsonPath
    kind = FieldKind.INT


@dataclass(frozen=True)
class Arith(Value):
    op: str  # + - * / % **
    left: Value
    right: Value

    @property
    def kind(self) -> FieldKind:
        both_int = self.left.kind is FieldKind.INT and self.right.kind is FieldKind.INT
        return FieldKind.INT if both_int and self.op != "**" else FieldKind.FLOAT


@dataclass(frozen=True)
class Neg(Value):
    operand: Value

    @property
    def kind(self) -> FieldKind:
        return FieldKind.INT if self.operand.kind is FieldKind.INT else FieldKind.FLOAT


@dataclass(frozen=True)
class Compare(Condition):
    op: str  # == != < <= > >=
    left: Value
    right: Value


@dataclass(frozen=True)
class In(Condition):
    value: Value
    items: tuple[Scalar, ...]


@dataclass(frozen=True)
class Like(Condition):
    value: Value
    pattern: str  # SQL LIKE: % any run, _ one character, backslash escapes the next character


@dataclass(frozen=True)
class Contains(Condition):
    """Whether the array holds any (or all) of `items`; json_contains(a, x) holds any of (x,)."""

    target: FieldRef | JsonPath
    items: tuple[Item, ...]
    require_all: bool


@dataclass(frozen=True)
class Exists(Condition):
    path: JsonPath


@dataclass(frozen=True)
class IsNull(Condition):
    column: str


@dataclass(frozen=True)
class Truth(Condition):
    """A BOOL value (or JSON `true`) used as a condition."""

    value: Value


@dataclass(frozen=True)
class Not(Condition):
    operand: Condition


@dataclass(frozen=True)
class And(Condition):
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Or(Condition):
    operands: tuple[Condition, ...]


# --------------------------------------------------------------------------------------------
# Parsing: text -> lark tree -> AST, checked against the schema


@dataclass(frozen=True)
class Filter:
    expression: str
    columns: frozenset[str]  # the columns evaluate() reads
    root: Condition = field(repr=False)

    def evaluate(self, table: pa.Table, indexes: Mapping[str, SortedIndex] | None = None) -> np.ndarray:
        """One bool per row of `table`: True where the row matches. `indexes` (by column name)
        answer comparisons and `in` lists on those columns without scanning them."""
        return _flags(_Evaluator(table, indexes or {}).condition(self.root))


class SortedIndex:
    """A column's values in sorted order (Milvus' STL_SORT, and the scalar index Quiver builds
    for INVERTED, Trie and BITMAP): equality, `in` and ranges by binary search, touching only
    the matching rows."""

    def __init__(self, column: pa.Array) -> None:
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        self.rows = len(column)
        self.nulls = _flags(column.is_null())
        present = np.flatnonzero(~self.nulls)
        values = column.filter(pa.array(~self.nulls))
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            values = np.array(values.to_pylist(), dtype=object)
        else:
            values = values.to_numpy(zero_copy_only=False)
        order = np.argsort(values, kind="stable")
        self._sorted = values[order]
        self._rows = present[order]

    def coerce(self, literal: Scalar) -> Scalar:
        kind = self._sorted.dtype.kind
        return self._sorted.dtype.type(literal) if kind == "f" else literal

    def compare(self, op: str, literal: Scalar) -> pa.Array:
        """`column op literal` for every row (null rows unknown)."""
        if op == "!=":
            return pc.invert(self.compare("==", literal))
        low, high = {
            "==": ("left", "right"), "<": (None, "left"), "<=": (None, "right"),
            ">": ("right", None), ">=": ("left", None),
        }[op]
        start = 0 if low is None else int(np.searchsorted(self._sorted, literal, side=low))
        end = len(self._sorted) if high is None else int(np.searchsorted(self._sorted, literal, side=high))
        return self._mask([(start, end)])

    def isin(self, items: list[Scalar]) -> pa.Array:
        spans = [
            (int(np.searchsorted(self._sorted, item, "left")), int(np.searchsorted(self._sorted, item, "right")))
            for item in items
        ]
        return self._mask(spans)

    def _mask(self, spans: list[tuple[int, int]]) -> pa.Array:
        hits = np.zeros(self.rows, bool)
        for start, end in spans:
            hits[self._rows[start:end]] = True
        return _known(hits, self.nulls)


def parse_filter(expression: str, schema: FilterSchema) -> Filter:
    if not isinstance(expression, str):
        raise _error("the filter must be a string")
    if not expression.strip():
        raise _error("the filter is empty")
    if len(expression.encode()) > MAX_EXPRESSION_BYTES:
        raise _error(f"the filter is longer than {MAX_EXPRESSION_BYTES} bytes")
    try:
        tree = _PARSER.parse(expression)
    except UnexpectedInput as e:
        raise _error(_syntax_message(e)) from None
    if _depth(tree) > MAX_DEPTH:
        raise _error(f"the filter is nested deeper than {MAX_DEPTH} levels")
    builder = _Builder(schema)
    try:
        root = _as_condition(builder.transform(tree))
    except VisitError as e:  # lark wraps what the callbacks raise
        raise e.orig_exc from None
    return Filter(expression, frozenset(builder.columns), root)


def _syntax_message(e: UnexpectedInput) -> str:
    where = f"line {e.line}, column {e.column}"
    if isinstance(e, UnexpectedCharacters):
        return f"unexpected character {e.char!r} at {where}"
    if isinstance(e, UnexpectedToken) and e.token.type != "$END":
        return f"unexpected {str(e.token)!r} at {where}"
    return "unexpected end of the filter"


def _depth(tree: Tree) -> int:
    """The depth of a parse tree, without recursion (it runs before the depth is known)."""
    deepest, stack = 0, [(tree, 1)]
    while stack and deepest <= MAX_DEPTH:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return deepest


_SIMPLE_ESCAPES = {
    "\\": "\\", "'": "'", '"': '"', "?": "?",
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
}  # fmt: skip
# C escapes, as Milvus (Go's strconv.Unquote) reads them: \n, \x41, \101, \u00e9, \U0001F600.
_ESCAPE = re.compile(r"\\(?:([0-7]{3})|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))")


def _unquote(token: str) -> str:
    def decode(match: re.Match[str]) -> str:
        octal, hex2, hex4, hex8, other = match.groups()
        if other is not None:
            if other not in _SIMPLE_ESCAPES:
                raise _error(f"bad escape \\{other} in string literal {token}")
            return _SIMPLE_ESCAPES[other]
        code = int(octal, 8) if octal else int(hex2 or hex4 or hex8, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF or (octal and code > 0xFF):
            raise _error(f"bad escape {match.group()} in string literal {token}")
        return chr(code)

    return _ESCAPE.sub(decode, token[1:-1])


def _integer(text: str) -> int:
    # Go's ParseInt(text, 0, 64), as Milvus: 0x hex, 0b binary, and a leading 0 means octal.
    try:
        octal = len(text) > 1 and text.isdigit() and text[0] == "0"
        value = int(text, 8) if octal else int(text, 0)
    except ValueError:
        raise _error(f"bad integer literal {text}") from None
    if value > _INT64_MAX:
        raise _error(f"integer literal {text} is out of the int64 range")
    return value


def _describe(value: Value) -> str:
    match value:
        case Literal(v):
            return f"the literal {v!r}"
        case FieldRef(f):
            return f"field {f.name} ({f.kind.value})"
        case JsonPath(column, keys):
            return column + "".join(f"[{k!r}]" for k in keys)
        case Element(array, index):
            return f"{array.name}[{index}]"
    return f"a {value.kind.value} expression"


_GROUPS = {
    FieldKind.INT: "number",
    FieldKind.FLOAT: "number",
    FieldKind.STRING: "string",
    FieldKind.BOOL: "bool",
}


def _check_item(item: Item, kind: FieldKind, what: str) -> None:
    """A literal must fit a typed operand (JSON operands take anything)."""
    if kind is FieldKind.JSON:
        return
    if isinstance(item, tuple) or _GROUPS[_literal_kind(item)] != _GROUPS[kind]:
        shown = list(item) if isinstance(item, tuple) else item
        raise _error(f"{shown!r} does not match {what}")


def _as_value(node: Value | Condition) -> Value:
    if not isinstance(node, Value):
        raise _error("a condition is used where a value is expected")
    return node


def _as_condition(node: Value | Condition) -> Condition:
    if isinstance(node, Condition):
        return node
    if node.kind not in (FieldKind.BOOL, FieldKind.JSON):
        raise _error(f"{_describe(node)} is not a condition")
    return Truth(node)


def _column_operand(node: Value | Condition, operator: str) -> Value:
    value = _as_value(node)
    if isinstance(value, Literal):
        raise _error(f"{operator} needs a field, not {_describe(value)}")
    if value.kind is FieldKind.ARRAY:
        raise _error(f"{operator} does not apply to the whole array {_describe(value)}")
    return value


@v_args(inline=True)
class _Builder(Transformer):
    """Lark tree -> AST. Resolves names against the schema and rejects ill-typed filters."""

    def __init__(self, schema: FilterSchema) -> None:
        super().__init__()
        self._schema = schema
        self.columns: set[str] = set()

    # --- logic
    def or_expr(self, *operands: Value | Condition) -> Condition:
        return Or(tuple(map(_as_condition, operands)))

    def and_expr(self, *operands: Value | Condition) -> Condition:
        return And(tuple(map(_as_condition, operands)))

    def not_(self, operand: Value | Condition) -> Condition:
        return Not(_as_condition(operand))

    # --- conditions
    def compare(self, left: Value | Condition, op: Token, right: Value | Condition) -> Condition:
        left, right = _as_value(left), _as_value(right)
        if isinstance(left, Literal) and isinstance(right, Literal):
            raise _error(f"{left.value!r} {op} {right.value!r} compares two constants")
        kinds = {left.kind, right.kind}
        if FieldKind.ARRAY in kinds:
            raise _error("a whole array cannot be compared: use an index or array_contains")
        if kinds == {FieldKind.JSON}:
            raise _error(f"{_describe(left)} and {_describe(right)} are both untyped JSON")
        if FieldKind.BOOL in kinds and op not in ("==", "!="):
            raise _error(f"booleans only support == and !=, not {op}")
        if FieldKind.JSON not in kinds and len({_GROUPS[k] for k in kinds}) > 1:
            raise _error(f"cannot compare {_describe(left)} with {_describe(right)}")
        return Compare(str(op), left, right)

    def chained_compare(
        self,
        low: Value | Condition,
        op1: Token,
        middle: Value | Condition,
        op2: Token,
        high: Value | Condition,
    ) -> Condition:
        ascending = op1 in ("<", "<=") and op2 in ("<", "<=")
        if not ascending and not (op1 in (">", ">=") and op2 in (">", ">=")):
            raise _error(f"unsupported chain {op1} ... {op2}: use a < x < b or a > x > b")
        return And((self.compare(low, op1, middle), self.compare(middle, op2, high)))

    def in_list(self, value: Value | Condition, items: tuple[Item, ...]) -> Condition:
        value = _column_operand(value, "in")
        for item in items:
            _check_item(item, value.kind, _describe(value))
            if isinstance(item, tuple):
                raise _error("in takes a list of scalars")
        return In(value, items)  # type: ignore[arg-type]  # nested tuples were refused above

    def not_in_list(self, value: Value | Condition, items: tuple[Item, ...]) -> Condition:
        return Not(self.in_list(value, items))

    def like(self, value: Value | Condition, pattern: Token) -> Condition:
        value = _column_operand(value, "like")
        if value.kind not in (FieldKind.STRING, FieldKind.JSON):
            raise _error(f"like needs a string, not {_describe(value)}")
        text = _unquote(pattern)
        if re.search(r"(?<!\\)(\\\\)*\\$", text):
            raise _error(f"like pattern {pattern} ends with a lone backslash")
        return Like(value, text)

    def is_null(self, value: Value | Condition, _: Token) -> Condition:
        value = _as_value(value)
        if isinstance(value, FieldRef) or (isinstance(value, JsonPath) and not value.keys):
            return IsNull(value.field.name if isinstance(value, FieldRef) else value.column)
        raise _error(f"is null applies to a schema field, not {_describe(value)}")

    def is_not_null(self, value: Value | Condition, token: Token) -> Condition:
        return Not(self.is_null(value, token))

    def exists(self, path: Value) -> Condition:
        if not isinstance(path, JsonPath) or not path.keys:
            raise _error(f"exists needs a JSON path, not {_describe(path)}")
        return Exists(path)

    def contains(self, function: Token, target: Value | Condition, arg: Value | tuple) -> Condition:
        name = function.lower()
        target = _as_value(target)
        if not (isinstance(target, JsonPath) or target.kind is FieldKind.ARRAY):
            raise _error(f"{name} needs an array field or a JSON path, not {_describe(target)}")
        if name.endswith(("_all", "_any")):
            if not isinstance(arg, tuple):
                raise _error(f"{name} takes a list as its second argument")
            items = arg
        else:
            items = (arg if isinstance(arg, tuple) else self._constant(arg),)
        if isinstance(target, FieldRef):
            element = target.field.element_kind
            assert element is not None
            for item in items:
                _check_item(item, element, f"the elements of {_describe(target)}")
        return Contains(target, items, name.endswith("_all"))  # type: ignore[arg-type]

    # --- values
    def reference(self, name: Token, *keys: Token) -> Value:
        path = tuple(_unquote(k) if k.type == "STRING" else _integer(k) for k in keys)
        if name.type == "META" or name not in self._schema.fields:
            return self._dynamic(path if name.type == "META" else (str(name), *path), name)
        found = self._schema.fields[name]
        self.columns.add(found.name)
        if found.kind is FieldKind.JSON:
            return JsonPath(found.name, path)
        if not path:
            return FieldRef(found)
        if found.kind is FieldKind.ARRAY and len(path) == 1 and isinstance(path[0], int):
            return Element(found, path[0])
        raise _error(f"{_describe(FieldRef(found))} cannot be indexed by {list(path)}")

    def _dynamic(self, keys: tuple[str | int, ...], name: str) -> JsonPath:
        if not self._schema.dynamic_field:
            raise _error(f"field {name} does not exist and the dynamic field is not enabled")
        if not keys:
            raise _error(f"{DYNAMIC_COLUMN} needs a key, as in {DYNAMIC_COLUMN}[\"name\"]")
        self.columns.add(DYNAMIC_COLUMN)
        return JsonPath(DYNAMIC_COLUMN, keys)

    def array_length(self, _: Token, target: Value) -> Value:
        if not isinstance(target, JsonPath) and target.kind is not FieldKind.ARRAY:
            raise _error(f"array_length needs an array or a JSON path, not {_describe(target)}")
        return Length(target)  # type: ignore[arg-type]

    def array(self, *items: Value | Condition | tuple) -> tuple[Item, ...]:
        return tuple(i if isinstance(i, tuple) else self._constant(i) for i in items)

    @staticmethod
    def _constant(node: Value | Condition) -> Scalar:
        if not isinstance(node, Literal):
            raise _error("lists and function arguments must be constants")
        return node.value

    def _arith(self, op: str, left: Value | Condition, right: Value | Condition) -> Value:
        left, right = _as_value(left), _as_value(right)
        for operand in (left, right):
            if operand.kind not in (FieldKind.INT, FieldKind.FLOAT, FieldKind.JSON):
                raise _error(f"{op} needs numbers, not {_describe(operand)}")
        if op in ("/", "%") and isinstance(right, Literal) and right.value == 0:
            raise _error("division by zero")
        node = Arith(op, left, right)
        if isinstance(left, Literal) and isinstance(right, Literal):  # fold constants
            as_int = node.kind is FieldKind.INT
            with np.errstate(all="ignore"):
                out, _ = _ARITH[op](_numbers(left.value, as_int), _numbers(right.value, as_int))
            return Literal(out.item())
        return node

    def add(self, left: Value | Condition, right: Value | Condition) -> Value:
        return self._arith("+", left, right)

    def sub(self, left: Value | Condition, right: Value | Condition) -> Value:
        return self._arith("-", left, right)

    def mul(self, left: Value | Condition, right: Value | Condition) -> Value:
        return self._arith("*", left, right)

    def div(self, left: Value | Condition, right: Value | Condition) -> Value:
        return self._arith("/", left, right)

    def mod(self, left: Value | Condition, right: Value | Condition) -> Value:
        return self._arith("%", left, right)

    def pow(self, left: Value | Condition, right: Value | Condition) -> Value:
        return self._arith("**", left, right)

    def neg(self, operand: Value | Condition) -> Value:
        operand = _as_value(operand)
        if operand.kind not in (FieldKind.INT, FieldKind.FLOAT, FieldKind.JSON):
            raise _error(f"- needs a number, not {_describe(operand)}")
        return Literal(-operand.value) if isinstance(operand, Literal) else Neg(operand)

    def int_literal(self, token: Token) -> Value:
        return Literal(_integer(token))

    def float_literal(self, token: Token) -> Value:
        return Literal(float(token))

    def string_literal(self, token: Token) -> Value:
        return Literal(_unquote(token))

    def true_literal(self, _: Token) -> Value:
        return Literal(True)

    def false_literal(self, _: Token) -> Value:
        return Literal(False)


# --------------------------------------------------------------------------------------------
# Evaluation


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


UNKNOWN = _Sentinel("UNKNOWN")  # the JSON column is null in this row
MISSING = _Sentinel("MISSING")  # the path leads nowhere in this row's document


@dataclass(frozen=True)
class _Column:
    """Typed values, one per row: a null is unknown, or missing where `missing` is set."""

    data: pa.Array
    missing: np.ndarray | None = None

    def unknown(self) -> np.ndarray:
        nulls = ~_flags(self.data.is_valid())
        return nulls if self.missing is None else nulls & ~self.missing


@dataclass(frozen=True)
class _Json:
    """Untyped values, one per row: a parsed JSON value, MISSING or UNKNOWN."""

    values: list[object]

    def unknown(self) -> np.ndarray:
        return np.fromiter((v is UNKNOWN for v in self.values), bool, len(self.values))


_Operand = _Column | _Json | Scalar


def _flags(result: pa.Array) -> np.ndarray:
    """A nullable bool array as numpy flags: unknown counts as false."""
    return pc.fill_null(result, False).to_numpy(zero_copy_only=False)


def _known(flags: np.ndarray, unknown: np.ndarray) -> pa.Array:
    return pa.array(flags, type=pa.bool_(), mask=unknown)


def _is_number(value: object) -> bool:
    return type(value) is int or type(value) is float  # orjson gives exact types; not bool


_LANES: dict[FieldKind, Callable[[object], bool]] = {
    FieldKind.BOOL: lambda v: type(v) is bool,
    FieldKind.INT: _is_number,
    FieldKind.FLOAT: _is_number,
    FieldKind.STRING: lambda v: type(v) is str,
}


def _lane(values: list[object], kind: FieldKind) -> _Column:
    """The JSON values of one type as a typed column; values of other types are missing."""
    accept = _LANES[kind]
    picked = [v if accept(v) else None for v in values]
    if kind is FieldKind.BOOL:
        data = pa.array(picked, pa.bool_())
    elif kind is FieldKind.STRING:
        data = pa.array(picked, pa.string())
    elif any(type(v) is float for v in picked):
        data = pa.array(picked, pa.float64())
    else:
        try:
            data = pa.array(picked, pa.int64())
        except OverflowError:  # a JSON integer beyond int64
            data = pa.array([None if v is None else float(v) for v in picked], pa.float64())
    missing = np.fromiter(
        (p is None and v is not UNKNOWN for v, p in zip(values, picked)), bool, len(values)
    )
    return _Column(data, missing)


def _merged_missing(operands: Iterable[_Operand]) -> np.ndarray | None:
    """Rows where some operand is missing and none is unknown."""
    columns = [o for o in operands if isinstance(o, _Column)]
    masks = [c.missing for c in columns if c.missing is not None]
    if not masks:
        return None
    return np.logical_or.reduce(masks) & ~np.logical_or.reduce([c.unknown() for c in columns])


def _settle_missing(result: pa.Array, operands: Iterable[_Operand], value: bool) -> pa.Array:
    missing = _merged_missing(operands)
    return result if missing is None else pc.if_else(pa.array(missing), value, result)


def _arrow(operand: _Column | Scalar, data_type: pa.DataType | None) -> pa.Array | Scalar:
    """An operand for a pyarrow kernel. A literal takes a float column's width, so that
    `x == 0.1` matches a float32 x stored from 0.1, as Milvus casts literals to the field type."""
    if isinstance(operand, _Column):
        return operand.data
    if data_type is not None and pa.types.is_floating(data_type) and not isinstance(operand, bool):
        return pa.scalar(operand, data_type)
    return operand


def _type_of(operand: _Operand) -> pa.DataType | None:
    return operand.data.type if isinstance(operand, _Column) else None


_COMPARE: dict[str, Callable] = {
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}


def _numbers(operand: _Column | Scalar, as_int: bool) -> np.ndarray:
    dtype = np.int64 if as_int else np.float64
    if isinstance(operand, _Column):
        filled = pc.fill_null(operand.data, 0).to_numpy(zero_copy_only=False)
        return filled.astype(dtype, copy=False)
    return np.asarray(operand, dtype=dtype)


def _divide(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    zero = b == 0
    safe = np.where(zero, 1, b).astype(b.dtype)
    if b.dtype.kind == "i":  # truncate toward zero, like C
        return (a - np.fmod(a, safe)) // safe, ~zero
    return a / safe, ~zero


def _modulo(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    zero = b == 0
    return np.fmod(a, np.where(zero, 1, b).astype(b.dtype)), ~zero  # the dividend's sign, like C


# op -> (a, b) -> (result, where the result is defined)
_ARITH: dict[str, Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "+": lambda a, b: (a + b, np.True_),
    "-": lambda a, b: (a - b, np.True_),
    "*": lambda a, b: (a * b, np.True_),
    "/": _divide,
    "%": _modulo,
    "**": lambda a, b: (np.power(a, b), np.True_),
}


def _value_set(data: pa.Array, items: list[Scalar]) -> tuple[pa.Array, pa.Array]:
    """`data` and `items` cast to one type for pc.is_in (integers stay exact when they can)."""
    if pa.types.is_integer(data.type):
        target = pa.int64() if all(type(i) is int for i in items) else pa.float64()
        return data.cast(target), pa.array(items, target)
    return data, pa.array(items, data.type)


def _by_lane(items: Iterable[Scalar]) -> dict[FieldKind, list[Scalar]]:
    groups: dict[FieldKind, list[Scalar]] = {}
    for item in items:
        kind = _literal_kind(item)
        groups.setdefault(FieldKind.FLOAT if kind is FieldKind.INT else kind, []).append(item)
    return groups


def _json_equal(value: object, item: Item) -> bool:
    if _is_number(value) and _is_number(item):
        return value == item
    if isinstance(item, tuple):
        same_length = type(value) is list and len(value) == len(item)
        return same_length and all(map(_json_equal, value, item))
    return type(value) is type(item) and value == item


def _length(value: object) -> object:
    if value is UNKNOWN:
        return UNKNOWN
    return len(value) if type(value) is list else MISSING


def _navigate(document: object, keys: tuple[str | int, ...]) -> object:
    for key in keys:
        if isinstance(key, str) and type(document) is dict:
            document = document.get(key, MISSING)
        elif isinstance(key, int) and type(document) is list and key < len(document):
            document = document[key]
        else:
            return MISSING
    return document


class _Evaluator:
    """Evaluates one AST over one table; JSON columns are parsed at most once."""

    def __init__(self, table: pa.Table, indexes: Mapping[str, SortedIndex]) -> None:
        self._table = table
        self._indexes = indexes
        self._rows = table.num_rows
        self._columns: dict[str, pa.Array] = {}
        self._documents: dict[str, list[object]] = {}

    def condition(self, node: Condition) -> pa.Array:
        match node:
            case And(operands):
                return reduce(pc.and_kleene, map(self.condition, operands))
            case Or(operands):
                return reduce(pc.or_kleene, map(self.condition, operands))
            case Not(operand):
                return pc.invert(self.condition(operand))
            case Compare():
                return self._compare(node)
            case In():
                return self._in(node)
            case Like(value, pattern):
                column = self._typed(value, FieldKind.STRING)
                return _settle_missing(pc.match_like(column.data, pattern), [column], False)
            case Contains():
                return self._contains(node)
            case Exists(path):
                values = self._json(path)
                present = np.array([v is not MISSING for v in values], bool)
                return _known(present, _Json(values).unknown())
            case IsNull(column):
                return self._column(column).is_null()
            case Truth(value):
                return self._truth(value)
        raise AssertionError(node)

    def _value(self, node: Value) -> _Operand:
        match node:
            case Literal(value):
                return value
            case FieldRef(f):
                return _Column(self._column(f.name))
            case JsonPath():
                return _Json(self._json(node))
            case Element(array, index):
                return self._element(self._column(array.name), index)
            case Length(FieldRef(f)):
                return _Column(pc.list_value_length(self._column(f.name)).cast(pa.int64()))
            case Length(JsonPath() as path):
                values = self._json(path)
                return _lane([_length(v) for v in values], FieldKind.INT)
            case Arith():
                return self._arith(node)
            case Neg(operand):
                column = self._typed(operand, FieldKind.FLOAT)
                assert isinstance(column, _Column)  # literals were folded by the builder
                return _Column(pc.negate(column.data), column.missing)
        raise AssertionError(node)

    def _typed(self, node: Value, kind: FieldKind) -> _Column | Scalar:
        """A value; a JSON one as its lane of `kind` (the type of what it is compared with)."""
        value = self._value(node)
        return _lane(value.values, kind) if isinstance(value, _Json) else value

    def _column(self, name: str) -> pa.Array:
        if name not in self._columns:
            self._columns[name] = self._table.column(name).combine_chunks()
        return self._columns[name]

    def _json(self, path: JsonPath) -> list[object]:
        if path.column not in self._documents:
            texts = self._column(path.column).to_pylist()
            parsed = [UNKNOWN if text is None else orjson.loads(text) for text in texts]
            self._documents[path.column] = parsed
        documents = self._documents[path.column]
        return [d if d is UNKNOWN else _navigate(d, path.keys) for d in documents]

    def _compare(self, node: Compare) -> pa.Array:
        indexed = self._indexed(node.left, node.right)
        if indexed is not None:
            return indexed.compare(node.op, _as_literal(node.right, indexed))
        flipped = self._indexed(node.right, node.left)
        if flipped is not None:
            return flipped.compare(_FLIPPED[node.op], _as_literal(node.left, flipped))
        left = self._typed(node.left, node.right.kind)
        right = self._typed(node.right, node.left.kind)
        result = _COMPARE[node.op](_arrow(left, _type_of(right)), _arrow(right, _type_of(left)))
        return _settle_missing(result, (left, right), node.op == "!=")

    def _indexed(self, column: Value, other: Value) -> SortedIndex | None:
        """The index that can answer `column op other`: a plain field against a literal."""
        if isinstance(column, FieldRef) and isinstance(other, Literal) and not isinstance(other.value, bool):
            return self._indexes.get(column.field.name)
        return None

    def _in(self, node: In) -> pa.Array:
        if isinstance(node.value, FieldRef) and node.value.field.name in self._indexes:
            return self._indexes[node.value.field.name].isin(list(node.items))
        value = self._value(node.value)
        hits = np.zeros(self._rows, bool)
        for kind, items in _by_lane(node.items).items():
            column = _lane(value.values, kind) if isinstance(value, _Json) else value
            assert isinstance(column, _Column)  # the builder refuses literals here
            data, value_set = _value_set(column.data, items)
            hits |= _flags(pc.is_in(data, value_set=value_set))
        assert isinstance(value, (_Column, _Json))
        return _known(hits, value.unknown())

    def _truth(self, node: Value) -> pa.Array:
        value = self._typed(node, FieldKind.BOOL)
        if isinstance(value, bool):
            return pa.array(np.full(self._rows, value))
        assert isinstance(value, _Column)
        return _settle_missing(value.data, [value], False)

    def _arith(self, node: Arith) -> _Column:
        left = self._typed(node.left, FieldKind.FLOAT)
        right = self._typed(node.right, FieldKind.FLOAT)
        # The static kind decides, so a JSON number is always a float here: whether `/`
        # truncates must not depend on the types found in other rows.
        as_int = node.kind is FieldKind.INT
        valid = np.ones(self._rows, bool)
        for operand in (left, right):
            if isinstance(operand, _Column):
                valid &= _flags(operand.data.is_valid())
        with np.errstate(all="ignore"):  # overflow wraps, 0 ** -1 is inf: no warnings
            out, defined = _ARITH[node.op](_numbers(left, as_int), _numbers(right, as_int))
        return _Column(pa.array(out, mask=~(valid & defined)), _merged_missing((left, right)))

    def _element(self, lists: pa.Array, index: int) -> _Column:
        """arr[index], vectorised through the list offsets; out of range is missing."""
        valid = _flags(lists.is_valid())
        present = valid & (pc.fill_null(pc.list_value_length(lists), 0).to_numpy() > index)
        starts = lists.offsets.to_numpy()[:-1]  # into lists.values, which ignores slicing
        data = lists.values.take(pa.array(starts + index, mask=~present))  # masked: unchecked
        return _Column(data, valid & ~present)

    def _contains(self, node: Contains) -> pa.Array:
        target = self._value(node.target)
        if isinstance(target, _Json):
            found = [_json_contains(v, node.items, node.require_all) for v in target.values]
            return pa.array(found, pa.bool_())
        assert isinstance(target, _Column)
        values = pc.list_flatten(target.data)
        parents = pc.list_parent_indices(target.data).to_numpy()
        found = np.full(self._rows, node.require_all)
        for item in node.items:
            hit = _flags(pc.equal(values, _arrow(item, values.type)))  # type: ignore[arg-type]
            has = np.bincount(parents[hit], minlength=self._rows) > 0
            found = found & has if node.require_all else found | has
        return _known(found, ~_flags(target.data.is_valid()))


_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _as_literal(node: Value, index: SortedIndex) -> Scalar:
    """The literal as the column would compare it: a float column's width (see _arrow)."""
    assert isinstance(node, Literal)
    return index.coerce(node.value)


def _json_contains(value: object, items: tuple[Item, ...], require_all: bool) -> bool | None:
    if value is UNKNOWN:
        return None
    if type(value) is not list:
        return False
    found = (any(_json_equal(element, item) for element in value) for item in items)
    return all(found) if require_all else any(found)
