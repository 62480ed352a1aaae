"""The OpenAPI 3.1 documents of the REST surfaces, served by the proxy.

Each surface's document is one YAML file here, written from the specs and Quiver's behaviour:
`milvus-v1.yaml` (GET /openapi.json on the 0.x port), `milvus-v2.yaml`
(GET /v2/vectordb/openapi.json) and `managed.yaml` (GET /api/v1/openapi.json). The
managed-index surface validates requests with pydantic models, so its document names them
instead of repeating them: an operation's `x-query: Model` stands for one query parameter per
field of the model, and `x-body: Model` for a JSON body of the model's schema. The models fill
them in when the document is loaded, so each part has one source of truth.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import yaml
from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

FOLDER = Path(__file__).parent
_REF = "#/components/schemas/{model}"
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def load(name: str, models: type[BaseModel] | None = None) -> dict[str, Any]:
    """The document `name`.yaml; `x-query`/`x-body` name subclasses of `models`."""
    document = yaml.load((FOLDER / f"{name}.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if models is not None:
        _fill_in_models(document, {m.__name__: m for m in _subclasses(models)})
    return document


def document_handler(name: str, models: type[BaseModel] | None = None) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler serving the document as JSON. It is read and serialised on first use, off the
    event loop: parsing the YAML and the models' schemas takes tens of milliseconds."""
    body: bytes | None = None

    async def openapi(request: web.Request) -> web.Response:
        nonlocal body
        if body is None:
            body = await asyncio.to_thread(lambda: orjson.dumps(load(name, models)))
        return web.Response(body=body, content_type="application/json")

    return openapi


def _subclasses(base: type) -> list[type]:
    found = []
    for sub in base.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _fill_in_models(document: dict[str, Any], models: dict[str, type[BaseModel]]) -> None:
    used: set[str] = set()
    for item in document["paths"].values():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if "x-query" in operation:
                model = models[operation.pop("x-query")]
                operation["parameters"] = [*operation.get("parameters", []), *_query_parameters(model)]
            if "x-body" in operation:
                name = operation.pop("x-body")
                used.add(name)
                schema = {"$ref": _REF.format(model=name)}
                operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    _, schemas = models_json_schema([(models[name], "validation") for name in sorted(used)], ref_template=_REF)
    document.setdefault("components", {}).setdefault("schemas", {}).update(schemas.get("$defs", {}))


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One parameter per field; a list-typed field is a repeated parameter (?a=1&a=2)."""
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    parameters = []
    for name, field in schema["properties"].items():
        field = _without_null(field)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": field}
        if field.get("type") == "array":
            parameter.update(style="form", explode=True)
        parameters.append(parameter)
    return parameters


def _without_null(field: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: `X | None` is documented as X."""
    options = [option for option in field.get("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        field = {**field, **options[0]}
        del field["anyOf"]
    return {k: v for k, v in field.items() if k != "title" and not (k == "default" and v is None)}
