"""Swagger UI at GET /docs on each REST port, over the OpenAPI documents of that port's surfaces.

Swagger UI's own files come from the swagger-ui-bundle-v2 wheel and are served from here, so the
page works on a machine without internet access. The page and the documents take no
credentials; Swagger UI's "Authorize" button takes them for the calls it tries.
"""

from __future__ import annotations

import html
from pathlib import Path

import orjson
from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

ASSETS = Path(str(swagger_ui_path))
# The files the page loads (the wheel holds more: source maps, other builds).
SERVED_ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"})
ROUTES = {("GET", "/docs"), ("GET", "/docs/{asset}")}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  urls: {urls},
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout",
}});
</script>
</body>
</html>
"""


def add_routes(app: web.Application, title: str, documents: dict[str, str]) -> None:
    """GET /docs: Swagger UI over `documents` ({name: the document's path, relative to the
    port's root, as every URL of the page is}); the first is shown first, a menu switches."""
    urls = [{"name": name, "url": path} for name, path in documents.items()]
    # The JSON sits in a <script>: "</" must not end it early.
    page = _PAGE.format(title=html.escape(title), urls=orjson.dumps(urls).decode().replace("</", "<\\/"))

    async def docs(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app.router.add_route("GET", "/docs", docs)
    app.router.add_route("GET", "/docs/{asset}", asset)


async def asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["asset"]
    if name not in SERVED_ASSETS:
        raise web.HTTPNotFound(text=f"no such file: {name}")
    return web.FileResponse(ASSETS / name)
