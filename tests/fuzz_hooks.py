"""Schemathesis hooks for tests/test_fuzz.py (loaded by the CLI through SCHEMATHESIS_HOOKS).

Generated names and ids almost never exist, so most requests would stop at a 404. These hooks
swap, in part of the generated requests, path parameters, query parameters and body fields
for ones that name fixtures the test created (a collection with data, a directory with a
synced index...), so that requests reach the code behind the lookups. The swap is itself a
Hypothesis choice: runs stay reproducible from their seed. Operations that drop, rename or
release what they name are left alone, or the fixtures would not last the run.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
import schemathesis
from hypothesis import strategies as st

FIXTURES_ENV = "QUIVER_FUZZ_FIXTURES"
# name -> values that name a fixture (path and query parameters, body fields alike).
FIXTURES: dict[str, list[Any]] = orjson.loads(os.environ.get(FIXTURES_ENV, "{}"))
_DESTRUCTIVE = ("/drop", "/rename", "/release")


def _spares_fixtures(context: Any) -> bool:
    operation = context.operation
    return operation.method.upper() != "DELETE" and not operation.path.endswith(_DESTRUCTIVE)


def _with_fixtures(context: Any, values: Any) -> st.SearchStrategy:
    """`values` as generated, each entry named like a fixture kept or swapped for one."""
    if not isinstance(values, dict) or not _spares_fixtures(context):
        return st.just(values)
    choices = {key: st.sampled_from([value, *FIXTURES[key]]) for key, value in values.items() if key in FIXTURES}
    if not choices:
        return st.just(values)
    return st.fixed_dictionaries(choices).map(lambda chosen: {**values, **chosen})


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy:
    return _with_fixtures(context, path_parameters)


@schemathesis.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy:
    return _with_fixtures(context, query)


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy:
    return _with_fixtures(context, body)
