"""Swagger UI at /docs on each REST port: the page and Swagger UI's files, served from the wheel
(no CDN) without credentials; and, in headless Chromium (Debian's `chromium` package), the page
rendered with every route of each OpenAPI document listed. Without chromium, the rendering test
is skipped and says so."""

from __future__ import annotations

import asyncio
import html
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from proxy import docs
from proxy.openapi import load
from tests.cluster import TestCluster

CHROMIUM = shutil.which("chromium")
# Each document, as the port's Swagger UI names it.
PAGES = [
    ("v1", "Milvus 0.x REST API", "milvus-v1"),
    ("http", "Milvus REST v2", "milvus-v2"),
    ("http", "Managed document indexes (LlamaCloud's API)", "managed"),
]


def base_url(cluster: TestCluster, port: str) -> str:
    return cluster.v1_url if port == "v1" else cluster.http_url


@pytest.mark.parametrize("port", ["v1", "http"])
async def test_the_page_and_swagger_ui_files_are_served_without_credentials(
    cluster: TestCluster, http: aiohttp.ClientSession, port: str
) -> None:
    base = base_url(cluster, port)
    async with http.get(f"{base}/docs") as response:
        assert response.status == 200 and response.content_type == "text/html"
        page = await response.text()
    assert 'src="docs/swagger-ui-bundle.js"' in page and "SwaggerUIBundle(" in page
    assert "://" not in page, "every URL is the proxy's own: nothing comes from elsewhere"
    for name in docs.SERVED_ASSETS:
        async with http.get(f"{base}/docs/{name}") as response:
            assert response.status == 200, name
            assert await response.read() == (docs.ASSETS / name).read_bytes(), name
    for name in ("swagger-ui.js.map", "..%2F__init__.py", "index.j2"):
        async with http.get(f"{base}/docs/{name}") as response:
            assert response.status == 404, name


def rendered_dom(url: str, profile: Path) -> str:
    """The page's DOM once its scripts ran, as headless Chromium leaves it."""
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (Debian: apt-get install chromium): "
                    "Swagger UI's rendering is not checked")
@pytest.mark.parametrize(("port", "name", "document"), PAGES, ids=[page[2] for page in PAGES])
async def test_chromium_renders_every_route_of_the_document(
    cluster: TestCluster, tmp_path: Path, port: str, name: str, document: str
) -> None:
    url = f"{base_url(cluster, port)}/docs?urls.primaryName={quote(name)}"
    dom = await asyncio.to_thread(rendered_dom, url, tmp_path / "chromium-profile")
    spec = load(document)
    assert html.escape(spec["info"]["title"], quote=False) in dom, "the document's title is shown"
    # Swagger UI lists each operation with its path in a data-path attribute.
    listed = {html.unescape(path) for path in re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom)}
    assert listed == set(spec["paths"])
