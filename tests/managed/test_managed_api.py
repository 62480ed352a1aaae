"""Managed document indexes end to end over HTTP: directories of generated documents in every
format, indexes over them, syncs, and retrieval, against real processes and the real model."""

from __future__ import annotations

import asyncio
import io
import os
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.cluster import TestCluster, V2Client
from tests.managed.conftest import ManagedApi, issue_api_key
from tests.managed.documents import FILLER_LINES, make_docx, make_html, make_pdf, make_prose_docx

ANSWERS = {
    # query -> (file, a phrase of its answer)
    "What does the lighthouse keeper give the cats to eat?": ("cats.txt", "sardines"),
    "Which observatory records the seismic tremors?": ("volcano.md", "volcano observatory"),
    "How much flour goes into the bread?": ("bread.html", "two cups of flour"),
    "How do I reset my router?": ("manual.pdf", "hold the power button"),
    "When was the zebra crossing repainted?": ("report.docx", "repainted in March"),
}


def corpus() -> dict[str, bytes]:
    """One document per supported format, each answering exactly one of ANSWERS; and a PDF
    that is not one."""
    return {
        "cats.txt": b"The lighthouse keeper feeds the three cats fresh sardines every morning at dawn.\n",
        "volcano.md": b"# Field notes\n\nThe volcano observatory records seismic tremors every night.\n",
        "bread.html": make_html("Bread", "The recipe needs two cups of flour and a pinch of salt."),
        "manual.pdf": make_pdf([
            ["To reset the router, hold the power button for ten seconds.", *FILLER_LINES],
            ["The warranty covers the antenna for five years.", *FILLER_LINES],
        ]),
        "report.docx": make_docx(),
        "broken.pdf": b"%PDF-1.7 this is not really a PDF",
    }


@dataclass(frozen=True)
class Corpus:
    directory_id: str
    index: dict[str, Any]
    files: dict[str, dict[str, Any]]  # name -> its directory file

    @property
    def index_id(self) -> str:
        return str(self.index["id"])

    def name_of(self, hit: dict[str, Any]) -> str:
        file_id = hit["static_fields"]["parsed_directory_file_id"]
        return next(name for name, f in self.files.items() if f["id"] == file_id)


@pytest.fixture(scope="module")
async def built(api: ManagedApi) -> Corpus:
    """The corpus in a directory, and an index over it that stores attachments, synced."""
    directory_id = await api.directory("corpus")
    files = {}
    for name, data in corpus().items():
        kind = "manual" if name.endswith(".pdf") else "note"
        extension = name.rsplit(".", 1)[1]
        metadata = f'{{"kind": "{kind}", "year": 2024, "tags": ["{kind}", "{extension}"]}}'
        files[name] = await api.upload(directory_id, name, data, metadata=metadata)
    index = await api.index(directory_id, name="corpus index", store_attachments=["screenshots", "items"])
    return Corpus(directory_id, await api.wait_synced(index["id"]), files)


async def test_every_format_is_parsed_and_exported(built: Corpus) -> None:
    metadata = built.index["metadata"]
    assert metadata["status"] == "ready" and metadata["error_message"] is None
    assert metadata["file_count"] == 5
    assert metadata["chunk_count"] >= 6  # the PDF's two pages are more than one chunk
    (failed,) = metadata["files_failed"]
    assert failed["directory_file_id"] == built.files["broken.pdf"]["id"]
    assert "not a readable PDF" in failed["error"]
    assert built.index["last_synced_at"] and built.index["last_exported_at"]
    assert built.index["last_synced_at"] <= built.index["last_exported_at"]
    assert metadata["last_sync"]["outcome"] == "completed"
    assert metadata["last_sync"]["chunks_embedded"] == metadata["chunk_count"]


@pytest.mark.parametrize("query", ANSWERS)
async def test_the_document_holding_the_answer_ranks_first(api: ManagedApi, built: Corpus, query: str) -> None:
    name, phrase = ANSWERS[query]
    hits = await api.retrieve(built.index_id, query, top_k=5)
    assert built.name_of(hits[0]) == name, [(built.name_of(h), h["score"]) for h in hits]
    assert phrase in hits[0]["content"]
    assert hits[0]["metadata"]["file_name"] == name
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


async def test_retrieval_by_export_config_id_is_the_same(api: ManagedApi, built: Corpus) -> None:
    query = "How do I reset my router?"
    by_index = await api.retrieve(built.index_id, query)
    by_export_config = await api.retrieve(built.index["export_config_id"], query)
    assert by_index == by_export_config


async def test_pdf_hits_name_their_pages_and_attachments(api: ManagedApi, built: Corpus) -> None:
    (hit,) = await api.retrieve(built.index_id, "How long does the warranty cover the antenna?", top_k=1)
    fields = hit["static_fields"]
    assert built.name_of(hit) == "manual.pdf" and fields["page_range_end"] == 2
    assert hit["content"] == hit["content"].strip() and fields["chunk_end_char"] > fields["chunk_start_char"]
    source = built.files["manual.pdf"]["id"]
    names = {a["attachment_name"] for a in fields["attachments"]}
    assert {"screenshots/page_2.png", "items/page_2.json"} <= names
    assert all(a["source_id"] == source for a in fields["attachments"])

    listed = await api.ok("GET", "/beta/attachments", params={"source_id": source})
    assert [a["name"] for a in listed["items"]] == [
        "items/page_1.json", "items/page_2.json", "screenshots/page_1.png", "screenshots/page_2.png"]
    presigned = await api.ok("GET", "/beta/attachments/screenshots/page_2.png", params={"source_id": source})
    async with api.http.get(presigned["url"], headers={"Authorization": "Bearer root:Milvus"}) as response:
        assert response.status == 200 and response.content_type == "image/png"
        with Image.open(io.BytesIO(await response.read())) as image:
            assert image.width > 500  # an A4 page at 108 dpi
    items_url = (await api.ok("GET", "/beta/attachments/items/page_2.json", params={"source_id": source}))["url"]
    async with api.http.get(items_url, headers={"Authorization": "Bearer root:Milvus"}) as response:
        items = await response.json(content_type=None)
    assert items["items"][0]["text"] == "The warranty covers the antenna for five years."
    missing = await api.request("GET", "/beta/attachments/screenshots/page_9.png", params={"source_id": source})
    assert missing.status == 404


async def test_custom_and_static_filters_apply_inside_the_search(api: ManagedApi, built: Corpus) -> None:
    query = "How do I reset my router?"
    notes = await api.retrieve(built.index_id, query, custom_filters={"kind": {"operator": "eq", "value": "note"}})
    assert notes and {built.name_of(h) for h in notes} <= {"cats.txt", "volcano.md", "bread.html", "report.docx"}
    listed = await api.retrieve(built.index_id, query, top_k=10,
                                custom_filters={"kind": {"operator": "in", "value": ["manual"]}})
    assert {built.name_of(h) for h in listed} == {"manual.pdf"}
    ranged = await api.retrieve(built.index_id, query, top_k=50, custom_filters={
        "year": [{"operator": "gte", "value": 2024}, {"operator": "lt", "value": 2025}]})
    assert len(ranged) == built.index["metadata"]["chunk_count"]
    assert await api.retrieve(built.index_id, query, custom_filters={"year": {"operator": "gt", "value": 2024}}) == []
    # A list of strings in the metadata matches eq and in by holding the value.
    tagged = await api.retrieve(built.index_id, query, top_k=50, custom_filters={"tags": {"operator": "eq", "value": "md"}})
    assert {built.name_of(h) for h in tagged} == {"volcano.md"}
    either = await api.retrieve(built.index_id, query, top_k=50,
                                custom_filters={"tags": {"operator": "in", "value": ["txt", "docx"]}})
    assert {built.name_of(h) for h in either} == {"cats.txt", "report.docx"}
    untagged = await api.retrieve(built.index_id, query, top_k=50,
                                  custom_filters={"tags": {"operator": "nin", "value": ["note"]}})
    assert {built.name_of(h) for h in untagged} == {"manual.pdf"}
    cats = built.files["cats.txt"]["id"]
    only = await api.retrieve(built.index_id, query, static_filters={
        "parsed_directory_file_id": {"operator": "eq", "value": cats}})
    assert [built.name_of(h) for h in only] == ["cats.txt"]
    others = await api.retrieve(built.index_id, query, top_k=50, static_filters={
        "parsed_directory_file_id": {"operator": "nin", "value": [cats]}})
    assert "cats.txt" not in {built.name_of(h) for h in others}
    second_page = await api.retrieve(built.index_id, "warranty", static_filters={
        "page_range_end": {"operator": "gte", "value": 2}})
    assert {built.name_of(h) for h in second_page} == {"manual.pdf"}


async def test_top_k_and_score_threshold(api: ManagedApi, built: Corpus) -> None:
    query = "What does the lighthouse keeper give the cats to eat?"
    every = await api.retrieve(built.index_id, query, top_k=1000)  # capped at 500: all chunks
    assert len(every) == built.index["metadata"]["chunk_count"]
    assert len(await api.retrieve(built.index_id, query, top_k=2)) == 2
    assert len(await api.retrieve(built.index_id, query)) == min(10, len(every))  # the default
    threshold = (every[0]["score"] + every[1]["score"]) / 2
    (best,) = await api.retrieve(built.index_id, query, score_threshold=threshold)
    assert best == every[0]
    limited = await api.retrieve(built.index_id, query, rerank={"enabled": True, "top_n": 3})
    assert len(limited) == 3 and all(h["rerank_score"] is None for h in limited)


async def test_full_text_scoring_combines_with_the_vector_score(api: ManagedApi, built: Corpus) -> None:
    # "Elm" names the street only in the report; on its own the word means little to the model.
    vector_only = await api.retrieve(built.index_id, "Elm", top_k=3)
    hybrid = await api.retrieve(built.index_id, "Elm", top_k=3, full_text_pipeline_weight=0.7)
    assert built.name_of(hybrid[0]) == "report.docx"
    # Full text alone: the best keyword match scores 1, chunks without the word 0.
    keywords = await api.retrieve(built.index_id, "Elm", top_k=3, full_text_pipeline_weight=1.0,
                                  vector_pipeline_weight=0.0)
    assert built.name_of(keywords[0]) == "report.docx" and keywords[0]["score"] == pytest.approx(1.0)
    assert all(h["score"] == 0 for h in keywords[1:])
    assert vector_only[0]["score"] != hybrid[0]["score"]


@pytest.fixture
async def small_index(api: ManagedApi) -> tuple[str, dict[str, Any]]:
    directory_id = await api.directory("small")
    await api.upload(directory_id, "cats.txt", corpus()["cats.txt"])
    await api.upload(directory_id, "volcano.md", corpus()["volcano.md"])
    index = await api.index(directory_id)
    return directory_id, await api.wait_synced(index["id"])


async def test_adding_removing_and_replacing_files_then_syncing(
    api: ManagedApi, small_index: tuple[str, dict[str, Any]]
) -> None:
    directory_id, index = small_index
    files = (await api.ok("GET", f"/beta/directories/{directory_id}/files"))["items"]
    cats = next(f for f in files if f["display_name"] == "cats.txt")
    await api.ok("DELETE", f"/beta/directories/{directory_id}/files/{cats['id']}")
    added = await api.upload(directory_id, "orchard.txt", b"The orchard grows apples that ripen in September.")
    synced = await api.sync(index["id"])
    last = synced["metadata"]["last_sync"]
    # Incremental: the unchanged volcano notes are neither parsed nor embedded again.
    assert (last["files_parsed"], last["files_exported"], last["files_removed"]) == (1, 1, 1)
    assert synced["metadata"]["file_count"] == 2

    hits = await api.retrieve(index["id"], "When do the apples ripen?", top_k=10)
    assert hits[0]["static_fields"]["parsed_directory_file_id"] == added["id"]
    assert cats["id"] not in {h["static_fields"]["parsed_directory_file_id"] for h in hits}

    # The same unique_id replaces the file's content: same directory file, new text.
    replaced = await api.upload(directory_id, "orchard.txt", b"The orchard grows pears that ripen in October.")
    assert replaced["id"] == added["id"] and replaced["file_id"] != added["file_id"]
    await api.sync(index["id"])
    (hit,) = await api.retrieve(index["id"], "When do the pears ripen?", top_k=1)
    assert "pears" in hit["content"]
    contents = {h["content"] for h in await api.retrieve(index["id"], "apples", top_k=10)}
    assert not any("apples" in c for c in contents)

    # A sync with nothing changed does nothing.
    idle = (await api.sync(index["id"]))["metadata"]["last_sync"]
    assert (idle["files_parsed"], idle["files_exported"], idle["files_removed"]) == (0, 0, 0)


def long_document(paragraphs: int) -> bytes:
    sentence = "Harbour lanterns signal the quiet river stone at morning tide, said the copper window. "
    return "\n\n".join(sentence * 8 for _ in range(paragraphs)).encode()


async def test_sync_and_cancel_conflicts(api: ManagedApi) -> None:
    busy_dir = await api.directory("busy")
    await api.upload(busy_dir, "long.txt", long_document(120))  # ~120 chunks: a long export
    busy = await api.index(busy_dir)
    # The node runs one sync at a time: an index created meanwhile waits, queued.
    waiting_dir = await api.directory("waiting")
    await api.upload(waiting_dir, "cats.txt", corpus()["cats.txt"])
    while ((await api.get_index(busy["id"]))["metadata"]["progress"] or {}).get("chunks_done", 0) == 0:
        await asyncio.sleep(0.1)
    waiting = await api.index(waiting_dir)
    assert waiting["metadata"]["status"] == "pending"

    again = await api.request("POST", f"/indexes/{busy['id']}/sync")
    assert again.status == 409 and again.headers["x-should-retry"] == "false"
    assert "already has a sync in progress" in again.body["detail"]

    await api.ok("POST", f"/indexes/{waiting['id']}/sync/cancel")  # queued: dropped
    dropped = await api.get_index(waiting["id"])
    assert not dropped["sync_in_progress"] and dropped["metadata"]["status"] == "failed"
    assert "cancelled before it ran" in dropped["metadata"]["error_message"]

    await api.ok("POST", f"/indexes/{busy['id']}/sync/cancel")  # running: stops between batches
    stopped = await api.wait_synced(busy["id"])
    assert stopped["metadata"]["last_sync"]["outcome"] == "cancelled"
    assert stopped["metadata"]["status"] == "failed"  # nothing was ever exported
    assert await api.retrieve(busy["id"], "harbour lanterns") == []  # the half export was undone

    for index in (busy, waiting):
        idle = await api.request("POST", f"/indexes/{index['id']}/sync/cancel")
        assert idle.status == 409 and idle.headers["x-should-retry"] == "false"
    resumed = await api.sync(waiting["id"])
    assert resumed["metadata"]["status"] == "ready"


async def test_deleting_an_index_drops_its_collection_and_frees_its_directory(
    api: ManagedApi, http: aiohttp.ClientSession, cluster: TestCluster, small_index: tuple[str, dict[str, Any]]
) -> None:
    directory_id, index = small_index
    collection = index["metadata"]["collection_name"]
    v2 = V2Client(http, cluster.http_url)
    assert (await v2.ok("collections/has", {"collectionName": collection}))["has"]
    in_use = await api.request("DELETE", f"/beta/directories/{directory_id}")
    assert in_use.status == 409 and "delete the index first" in in_use.body["detail"]

    deleted = await api.request("DELETE", f"/indexes/{index['id']}", headers={"Accept": "*/*"})
    assert deleted.status == 204 and deleted.body == b""
    assert (await api.request("GET", f"/indexes/{index['id']}")).status == 404
    assert (await api.request("POST", "/retrieval/retrieve", json={"index_id": index["export_config_id"],
                                                                  "query": "cats"})).status == 404
    assert not (await v2.ok("collections/has", {"collectionName": collection}))["has"]
    assert (await api.request("GET", f"/beta/directories/{index['output_directory_id']}")).status == 404
    assert (await api.request("DELETE", f"/beta/directories/{directory_id}")).status == 204
    assert (await api.request("GET", f"/beta/directories/{directory_id}")).status == 404


async def test_disabled_vector_target_keeps_only_the_parsed_output(api: ManagedApi) -> None:
    directory_id = await api.directory("parse only")
    source = await api.upload(directory_id, "volcano.md", corpus()["volcano.md"])
    index = await api.wait_synced((await api.index(directory_id, vector_target="DISABLED"))["id"])
    assert index["metadata"]["status"] == "ready" and index["metadata"]["collection_name"] is None
    assert index["last_synced_at"] and index["last_exported_at"] is None
    refused = await api.request("POST", "/retrieval/retrieve", json={"index_id": index["id"], "query": "volcano"})
    assert refused.status == 409 and "vector export disabled" in refused.body["detail"]

    (parsed,) = (await api.ok("GET", f"/beta/directories/{index['output_directory_id']}/files"))["items"]
    assert parsed["unique_id"] == source["id"] and parsed["display_name"] == "volcano.md.json"
    presigned = await api.ok("GET", f"/beta/files/{parsed['file_id']}/content")
    async with api.http.get(presigned["url"], headers={"Authorization": "Bearer root:Milvus"}) as response:
        output = await response.json(content_type=None)
    assert output["format"] == "md" and output["pages"][0]["text"].startswith("# Field notes")
    assert output["chunks"][0]["text"] == output["pages"][0]["text"].strip()


async def test_on_source_change_syncs_after_an_upload(api: ManagedApi) -> None:
    directory_id = await api.directory("watched")
    await api.upload(directory_id, "cats.txt", corpus()["cats.txt"])
    index = await api.wait_synced((await api.index(directory_id, sync_frequency="on_source_change"))["id"])
    first_run = index["metadata"]["last_sync"]["run_id"]
    added = await api.upload(directory_id, "penguins.txt", b"Penguins huddle together to stay warm in Antarctica.")
    synced = await api.wait_synced(index["id"], after_run=first_run)  # no sync was asked for
    assert synced["metadata"]["file_count"] == 2
    (hit,) = await api.retrieve(index["id"], "How do penguins keep warm?", top_k=1)
    assert hit["static_fields"]["parsed_directory_file_id"] == added["id"]


async def test_daily_index_syncs_again_by_itself(api: ManagedApi) -> None:
    directory_id = await api.directory("daily")
    index = await api.wait_synced((await api.index(directory_id, sync_frequency="daily"))["id"])
    # The test cluster's day is four seconds long.
    again = await api.wait_synced(index["id"], after_run=index["metadata"]["last_sync"]["run_id"])
    assert again["metadata"]["last_sync"]["outcome"] == "completed"
    assert again["last_synced_at"] > index["last_synced_at"]
    await api.ok("DELETE", f"/indexes/{index['id']}")  # or it syncs every four seconds from now on


async def test_import_from_a_server_folder_stays_below_the_root(api: ManagedApi, cluster: TestCluster) -> None:
    folder = cluster.import_root / "handbook"
    (folder / "chapter").mkdir(parents=True)
    (folder / "chapter" / "tides.md").write_text("# Tides\n\nThe tide turns twice a day.")
    (folder / "notes.txt").write_text("Notes about the harbour.")
    (folder / "skip.bin").write_bytes(b"\x00\x01")
    os.symlink("/etc/hostname", folder / "escape.txt")
    directory_id = await api.directory("imported")
    path = f"/beta/directories/{directory_id}/files/import"

    reply = await api.ok("POST", path, json={"path": "handbook", "glob": "**/*.[mt][dx]*"})
    assert sorted(f["unique_id"] for f in reply["items"]) == ["handbook/chapter/tides.md", "handbook/notes.txt"]
    assert reply["skipped"] == ["handbook/escape.txt: a symbolic link"]
    again = await api.ok("POST", path, json={"path": "handbook/chapter"})  # importing again replaces
    assert [f["id"] for f in again["items"]] == [f["id"] for f in reply["items"] if "tides" in f["unique_id"]]
    for escape in ("../", "handbook/../../", "/etc"):
        refused = await api.request("POST", path, json={"path": escape})
        assert refused.status == 422 and refused.body["detail"][0]["loc"] == ["body", "path"], escape
    missing = await api.request("POST", path, json={"path": "nowhere"})
    assert missing.status == 404
    listed = await api.ok("GET", f"/beta/directories/{directory_id}/files")
    assert len(listed["items"]) == 2


async def test_a_parse_configuration_selects_pages(api: ManagedApi) -> None:
    config = await api.ok("POST", "/beta/configurations", json={"name": "second page only", "parameters": {
        "product_type": "parse_v2", "tier": "fast", "version": "latest", "page_ranges": {"target_pages": "2"}}})
    directory_id = await api.directory("pages")
    await api.upload(directory_id, "manual.pdf", corpus()["manual.pdf"])
    index = await api.index(directory_id, products=[{"product_config_id": config["id"], "product_type": "parse"}])
    await api.wait_synced(index["id"])
    hits = await api.retrieve(index["id"], "How do I reset my router?", top_k=10)
    assert hits and all("reset the router" not in h["content"] for h in hits)
    assert {h["static_fields"]["page_range_start"] for h in hits} == {2}


async def test_directories_files_and_paging(api: ManagedApi) -> None:
    ids = [await api.directory(f"paged-{n}") for n in range(5)]
    seen, token = [], None
    while True:
        page = await api.ok("GET", "/beta/directories", params={"page_size": 2, **({"page_token": token} if token else {})})
        assert len(page["items"]) <= 2
        seen += [d["id"] for d in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert [i for i in seen if i in ids] == ids  # creation order, each once
    assert [d["id"] for d in (await api.ok("GET", "/beta/directories", params={"name": "paged-3"}))["items"]] == [ids[3]]

    renamed = await api.ok("PATCH", f"/beta/directories/{ids[0]}", json={"description": "first"})
    assert (renamed["name"], renamed["description"]) == ("paged-0", "first")
    await api.ok("DELETE", f"/beta/directories/{ids[1]}")
    names = [d["name"] for d in (await api.ok("GET", "/beta/directories", params={"page_size": 1000}))["items"]]
    assert "paged-1" not in names
    with_deleted = await api.ok("GET", "/beta/directories", params={"page_size": 1000, "include_deleted": "true"})
    assert next(d for d in with_deleted["items"] if d["id"] == ids[1])["deleted_at"] is not None

    # A project file, then the same file added to a directory by id.
    form = aiohttp.FormData()
    form.add_field("purpose", "user_data")
    form.add_field("file", b"Lighthouses guide ships.", filename="ships.txt")
    stored = await api.ok("POST", "/beta/files", data=form)
    assert (stored["name"], stored["file_type"], stored["purpose"]) == ("ships.txt", "txt", "user_data")
    assert (await api.ok("GET", f"/beta/files/{stored['id']}"))["id"] == stored["id"]
    placed = await api.ok("POST", f"/beta/directories/{ids[2]}/files",
                          json={"file_id": stored["id"], "metadata": {"tags": ["sea", "light"]}})
    assert (placed["display_name"], placed["unique_id"], placed["metadata"]) == ("ships.txt", "ships.txt",
                                                                               {"tags": ["sea", "light"]})
    got = await api.ok("GET", f"/beta/directories/{ids[2]}/files/{placed['id']}")
    assert got == placed
    found = await api.ok("GET", f"/beta/directories/{ids[2]}/files", params={"display_name_contains": "SHIP"})
    assert [f["id"] for f in found["items"]] == [placed["id"]]
    presigned = await api.ok("GET", f"/beta/files/{stored['id']}/content")
    async with api.http.get(presigned["url"], headers={"Authorization": "Bearer root:Milvus"}) as response:
        assert await response.read() == b"Lighthouses guide ships."
    await api.ok("DELETE", f"/beta/directories/{ids[2]}/files/{placed['id']}")
    assert (await api.request("GET", f"/beta/directories/{ids[2]}/files/{placed['id']}")).status == 404
    deleted = await api.ok("GET", f"/beta/directories/{ids[2]}/files", params={"include_deleted": "true"})
    assert deleted["items"][0]["deleted_at"] is not None
    await api.ok("DELETE", f"/beta/files/{stored['id']}")
    assert (await api.request("GET", f"/beta/files/{stored['id']}")).status == 404


async def test_configurations_upsert_by_name(api: ManagedApi) -> None:
    body = {"name": "contracts", "parameters": {"product_type": "extract_v2", "data_schema": {"type": "object"}}}
    first = await api.ok("POST", "/beta/configurations", json=body)
    body["parameters"]["data_schema"] = {"type": "object", "properties": {"party": {"type": "string"}}}
    second = await api.ok("POST", "/beta/configurations", json=body)
    assert second["id"] == first["id"] and second["version"] >= first["version"]
    assert second["parameters"]["data_schema"]["properties"] == {"party": {"type": "string"}}
    listed = await api.ok("GET", "/beta/configurations", params={"product_type": "extract_v2", "name": "contracts"})
    assert [c["id"] for c in listed["items"]] == [first["id"]]
    renamed = await api.ok("PUT", f"/beta/configurations/{first['id']}", json={"name": "agreements"})
    assert renamed["name"] == "agreements" and renamed["product_type"] == "extract_v2"
    retyped = await api.request("PUT", f"/beta/configurations/{first['id']}", json={
        "parameters": {"product_type": "parse_v2", "tier": "fast", "version": "latest"}})
    assert retyped.status == 422
    await api.ok("DELETE", f"/beta/configurations/{first['id']}")
    assert (await api.request("GET", f"/beta/configurations/{first['id']}")).status == 404


async def test_api_keys_and_credentials(api: ManagedApi, cluster: TestCluster) -> None:
    key = await issue_api_key(cluster)
    assert key.startswith("llx-")
    with_key = ManagedApi(api.http, cluster.http_url, token=key)
    assert (await with_key.request("GET", "/indexes")).status == 200
    for token in (None, "llx-not-a-key", "root:wrong"):
        refused = await ManagedApi(api.http, cluster.http_url, token=token).request("GET", "/indexes")
        assert refused.status == 401 and refused.body == {"detail": "user hasn't authenticated"}
