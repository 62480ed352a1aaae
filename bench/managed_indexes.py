"""Managed document indexes: indexing throughput (chunks/s) and retrieval latency (p50/p99).

    python bench/managed_indexes.py [--documents 40] [--paragraphs 10] [--queries 200] [--url http://127.0.0.1:19530]

Generates documents in every supported format (txt, md, html, pdf, docx) of prose paragraphs
of ~750 characters (one chunk each), uploads them into a directory, and times the index's
first sync from its creation to ready, after a warm-up index has loaded the embedding model;
then an incremental sync after one file changed; then retrieval one query at a time (vector
only, and hybrid with full-text scoring), and at concurrency 4.

Without --url it starts a standalone cluster of its own (with its ingest node). Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from typing import Any

import aiohttp

from common import cluster

# The test suite's document generators (fpdf2 is in the `test` extra); common put the
# repository on the path.
from tests.managed.documents import make_html, make_pdf, make_prose_docx  # noqa: E402

HEADERS = {"Authorization": "Bearer root:Milvus"}
# Content words, and the short function words that make real prose ~190 tokens per 800 characters.
WORDS = (
    "harbour lantern quiet river stone signal morning copper window garden tide orchard engine "
    "ledger meadow valley furnace compass archive beacon glacier canyon prairie workshop "
    "the the of of and and a a to to in in is it was for on with as at by an"
).split()
FORMATS = ("txt", "md", "html", "pdf", "docx")


def paragraph(rng: random.Random) -> str:
    """About 750 characters of sentences: a bit under one chunk (800)."""
    sentences = []
    while sum(len(s) + 1 for s in sentences) < 700:
        words = rng.choices(WORDS, k=rng.randint(6, 14))
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def document(kind: str, paragraphs: list[str]) -> bytes:
    if kind == "pdf":  # one paragraph per page, in lines of PDF width
        return make_pdf([[p[i : i + 90] for i in range(0, len(p), 90)] for p in paragraphs])
    if kind == "docx":
        return make_prose_docx(paragraphs)
    if kind == "html":
        return make_html("Notes", "</p><p>".join(paragraphs))
    if kind == "md":
        return ("# Notes\n\n" + "\n\n".join(paragraphs)).encode()
    return "\n\n".join(paragraphs).encode()


class Api:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.base = url + "/api/v1"

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http.request(method, self.base + path, headers=HEADERS, **kwargs) as response:
            body = await response.json(content_type=None)
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {body}")
            return body

    async def upload(self, directory_id: str, name: str, data: bytes) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("upload_file", data, filename=name)
        return await self.call("POST", f"/beta/directories/{directory_id}/files/upload", data=form)  # type: ignore[no-any-return]

    async def synced(self, index_id: str, after_run: str | None = None) -> dict[str, Any]:
        while True:
            index = await self.call("GET", f"/indexes/{index_id}", params={"expand": "sync_in_progress"})
            run = (index["metadata"]["last_sync"] or {}).get("run_id")
            if not index["sync_in_progress"] and run and run != after_run:
                if index["metadata"]["status"] != "ready":
                    raise RuntimeError(f"index {index_id}: {index['metadata']}")
                return index  # type: ignore[no-any-return]
            await asyncio.sleep(0.1)


async def build(api: Api, files: dict[str, bytes], name: str) -> tuple[str, dict[str, Any], float]:
    directory_id = (await api.call("POST", "/beta/directories", json={"name": name}))["id"]
    for file_name, data in files.items():
        await api.upload(directory_id, file_name, data)
    started = time.perf_counter()
    created = await api.call("POST", "/indexes", json={"source_directory_id": directory_id})
    index = await api.synced(created["id"])
    return directory_id, index, time.perf_counter() - started


async def latencies(api: Api, index_id: str, queries: list[str], **fields: Any) -> list[float]:
    taken = []
    for query in queries:
        started = time.perf_counter()
        found = await api.call("POST", "/retrieval/retrieve", json={"index_id": index_id, "query": query, **fields})
        taken.append((time.perf_counter() - started) * 1000)
        assert found["results"], query
    return taken


async def concurrent_qps(api: Api, index_id: str, queries: list[str], concurrency: int) -> float:
    pending = iter(queries)

    async def worker() -> None:
        for query in pending:
            await api.call("POST", "/retrieval/retrieve", json={"index_id": index_id, "query": query})

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(queries) / (time.perf_counter() - started)


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(ordered):7.1f} ms   p99 {p99:7.1f} ms"


def corpus(rng: random.Random, documents: int, paragraphs: int, queries: int) -> tuple[dict[str, bytes], list[str]]:
    """Seeded documents in every format, and queries of their words."""
    files = {
        f"doc-{n:03d}.{FORMATS[n % len(FORMATS)]}": document(
            FORMATS[n % len(FORMATS)], [paragraph(rng) for _ in range(paragraphs)])
        for n in range(documents)
    }
    return files, [" ".join(rng.choices(WORDS, k=rng.randint(3, 8))) for _ in range(queries)]


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(11)
    files, queries = corpus(rng, args.documents, args.paragraphs, args.queries)
    async with cluster(args.url, args.url) as endpoints, \
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        api = Api(http, endpoints.http)
        _, warm, _ = await build(api, {"warmup.txt": paragraph(rng).encode()}, "warm-up")  # loads the model
        await latencies(api, warm["id"], queries[:5])  # and the query model
        directory_id, index, build_s = await build(api, files, "bench")
        metadata = index["metadata"]
        chunks, last = metadata["chunk_count"], metadata["last_sync"]
        print(f"corpus: {len(files)} documents ({', '.join(FORMATS)}), {chunks} chunks of "
              f"~{metadata['token_count'] / chunks:.0f} tokens, {sum(len(d) for d in files.values()) / 1e6:.1f} MB")
        print(f"first sync:       {chunks / build_s:7.1f} chunks/s   ({build_s:.1f} s from create to ready; "
              f"embedding alone {chunks / last['embedding_s']:.1f} chunks/s)")

        changed = next(iter(files))
        await api.upload(directory_id, changed, document(changed.rsplit(".", 1)[1], [paragraph(rng)]))
        started = time.perf_counter()
        await api.call("POST", f"/indexes/{index['id']}/sync")
        resynced = await api.synced(index["id"], after_run=last["run_id"])
        print(f"incremental sync: {time.perf_counter() - started:7.2f} s for 1 changed file of {len(files)} "
              f"({resynced['metadata']['last_sync']['chunks_embedded']} chunks embedded)")

        await latencies(api, index["id"], queries[:10])
        print(f"retrieval, vector:          {percentiles(await latencies(api, index['id'], queries))}"
              f"   ({len(queries)} queries, one at a time, top 10)")
        hybrid = await latencies(api, index["id"], queries, full_text_pipeline_weight=0.3)
        print(f"retrieval, vector + BM25:   {percentiles(hybrid)}")
        print(f"retrieval, concurrency 4:   {await concurrent_qps(api, index['id'], queries, 4):7.1f} queries/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running cluster's REST v2 URL (its /api/v1 must reach an ingest node)")
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--paragraphs", type=int, default=10, help="paragraphs (chunks) per document")
    parser.add_argument("--queries", type=int, default=200)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
