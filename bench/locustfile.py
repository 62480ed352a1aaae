"""Locust users for Quiver's three REST surfaces (pip install 'quiver-db[bench]'):

    locust -f bench/locustfile.py --host http://127.0.0.1 --headless -u 32 -r 8 -t 2m

- `MilvusV1User` (port 19121): searches and inserts on a 0.x collection, 9 to 1;
- `MilvusV2User` (port 19530): searches, filtered searches and upserts on a v2 collection;
- `ManagedIndexUser` (port 19530): retrievals against the managed index named by
  QUIVER_MANAGED_INDEX (an index id or export_config_id; skipped when unset).

Pick users with `locust ... MilvusV2User`. Ports and credentials come from QUIVER_V1_PORT,
QUIVER_HTTP_PORT and QUIVER_TOKEN (default root:Milvus).
"""

from __future__ import annotations

import os
import random
from urllib.parse import urlsplit

import numpy as np
from locust import HttpUser, between, task

V1_PORT = int(os.environ.get("QUIVER_V1_PORT", "19121"))
HTTP_PORT = int(os.environ.get("QUIVER_HTTP_PORT", "19530"))
TOKEN = os.environ.get("QUIVER_TOKEN", "root:Milvus")
DIM = 64
V1_COLLECTION, V2_COLLECTION = "locust_v1", "locust_v2"
QUERIES = np.random.default_rng(0).standard_normal((256, DIM)).astype(np.float32).tolist()


def _with_port(host: str, port: int) -> str:
    url = urlsplit(host)
    return f"{url.scheme}://{url.hostname}:{port}"


class MilvusV1User(HttpUser):
    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        self.base = _with_port(self.host, V1_PORT)
        self.client.post(f"{self.base}/collections", json={"collection_name": V1_COLLECTION, "dimension": DIM},
                         name="create collection")  # 400 once it exists: fine

    @task(9)
    def search(self) -> None:
        body = {"search": {"topk": 10, "vectors": [random.choice(QUERIES)], "params": {}}}
        self.client.put(f"{self.base}/collections/{V1_COLLECTION}/vectors", json=body, name="v1 search")

    @task(1)
    def insert(self) -> None:
        vectors = np.random.default_rng().standard_normal((100, DIM)).astype(np.float32).tolist()
        self.client.post(f"{self.base}/collections/{V1_COLLECTION}/vectors", json={"vectors": vectors}, name="v1 insert")


class MilvusV2User(HttpUser):
    wait_time = between(0, 0.01)

    def on_start(self) -> None:
        self.base = _with_port(self.host, HTTP_PORT) + "/v2/vectordb"
        self.headers = {"Authorization": f"Bearer {TOKEN}"}
        schema = {"fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
            {"fieldName": "bucket", "dataType": "Int32"},
        ]}
        self._post("collections/create", {"collectionName": V2_COLLECTION, "schema": schema, "indexParams": [
            {"fieldName": "vector", "indexType": "HNSW", "metricType": "L2", "params": {"M": 16, "efConstruction": 64}}]})

    def _post(self, path: str, body: dict, name: str = "") -> None:
        self.client.post(f"{self.base}/{path}", json=body, headers=self.headers, name=name or path)

    @task(6)
    def search(self) -> None:
        self._post("entities/search", {"collectionName": V2_COLLECTION, "data": [random.choice(QUERIES)], "limit": 10})

    @task(3)
    def filtered_search(self) -> None:
        body = {"collectionName": V2_COLLECTION, "data": [random.choice(QUERIES)], "limit": 10, "filter": "bucket < 10"}
        self._post("entities/search", body, "entities/search filtered")

    @task(1)
    def upsert(self) -> None:
        start = random.randrange(0, 1_000_000)
        vectors = np.random.default_rng().standard_normal((100, DIM)).astype(np.float32).tolist()
        rows = [{"id": start + i, "vector": v, "bucket": (start + i) % 100} for i, v in enumerate(vectors)]
        self._post("entities/upsert", {"collectionName": V2_COLLECTION, "data": rows})


class ManagedIndexUser(HttpUser):
    wait_time = between(0, 0.01)
    index_id = os.environ.get("QUIVER_MANAGED_INDEX", "")
    abstract = not index_id  # nothing to retrieve from without an index

    def on_start(self) -> None:
        self.base = _with_port(self.host, HTTP_PORT)
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    @task
    def retrieve(self) -> None:
        body = {"index_id": self.index_id, "query": random.choice(["how to install", "error codes", "pricing"]), "top_k": 5}
        self.client.post(f"{self.base}/api/v1/retrieval/retrieve", json=body, headers=self.headers, name="retrieve")
