"""Security: who gets in, how often, and what never leaks (docs/security.md).

The v2 and managed-index surfaces require credentials by default (tests/test_v2_collections.py
and tests/managed/test_managed_api.py check the refusals of each); here: users and passwords,
the root password's first start, constant-time checks, per-user rate limits, uploads and
downloads that cannot leave the data directory, and secrets that never reach a log or a metric.
The folder import's root is tested with the import itself (tests/managed/test_managed_api.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from coordinator.users import DEFAULT_ROOT_PASSWORD, Users
from quiver import passwords
from quiver.standalone import LOOPBACK, Child, free_port, role_argv
from tests.cluster import TestCluster, V1Client, V2Client, metric_sample
from tests.managed.conftest import ManagedApi, issue_api_key


@pytest.fixture
def api(http: aiohttp.ClientSession, cluster: TestCluster) -> ManagedApi:
    return ManagedApi(http, cluster.http_url)


def user_name() -> str:
    return f"u_{uuid.uuid4().hex[:10]}"


# -- users and passwords ----------------------------------------------------------------------


async def test_a_user_works_on_both_surfaces_until_its_password_changes_or_it_is_dropped(
    http: aiohttp.ClientSession, cluster: TestCluster, v2: V2Client
) -> None:
    alice, first, second = user_name(), "first-Passw0rd", "second-Passw0rd"
    await v2.ok("users/create", {"userName": alice, "password": first})
    await v2.fails("users/create", {"userName": alice, "password": first}, 1100)
    assert alice in await v2.ok("users/list", {})
    as_alice = V2Client(http, cluster.http_url, token=f"{alice}:{first}")
    assert await as_alice.ok("collections/list", {}) is not None
    assert (await ManagedApi(http, cluster.http_url, token=f"{alice}:{first}").request("GET", "/indexes")).status == 200
    assert await as_alice.ok("users/describe", {"userName": alice}) == []

    # Only root manages users; a user may only look at and change itself.
    for path, body in (("users/create", {"userName": user_name(), "password": first}),
                       ("users/list", {}), ("users/drop", {"userName": alice}),
                       ("users/describe", {"userName": "root"}),
                       ("users/update_password", {"userName": "root", "password": "Milvus", "newPassword": first})):
        status, reply = await as_alice.post(path, body)
        assert (status, reply["code"]) == (403, 1401), (path, reply)
    await as_alice.fails("users/update_password", {"userName": alice, "password": "wrong-old", "newPassword": second}, 1100)
    await as_alice.fails("users/update_password", {"userName": alice, "password": first, "newPassword": "short"}, 1100)
    await as_alice.ok("users/update_password", {"userName": alice, "password": first, "newPassword": second})

    status, reply = await as_alice.post("collections/list", {})  # the old password: refused at once
    assert (status, reply["code"]) == (401, 1800)
    as_alice.token = f"{alice}:{second}"
    assert await as_alice.ok("collections/list", {}) is not None
    await v2.ok("users/drop", {"userName": alice})
    status, reply = await as_alice.post("collections/list", {})
    assert (status, reply["code"]) == (401, 1800)
    assert alice not in await v2.ok("users/list", {})
    await v2.fails("users/drop", {"userName": "root"}, 1100)


async def test_requests_in_flight_with_the_same_credentials_share_one_password_check(
    http: aiohttp.ClientSession, cluster: TestCluster, v2: V2Client
) -> None:
    """A busy client's cached check expires under load: its requests in flight must not each
    cost the coordinator a scrypt (tens of milliseconds of CPU and 16 MiB apiece)."""
    carol, password = user_name(), "carols-Passw0rd"
    await v2.ok("users/create", {"userName": carol, "password": password})
    as_carol = V2Client(http, cluster.http_url, token=f"{carol}:{password}")
    checks_before = await password_checks(http, cluster)
    replies = await asyncio.gather(*(as_carol.post("collections/list", {}) for _ in range(32)))
    assert [reply["code"] for _, reply in replies] == [0] * 32
    assert await password_checks(http, cluster) == checks_before + 1

    wrong = V2Client(http, cluster.http_url, token=f"{carol}:not-her-password")
    replies = await asyncio.gather(*(wrong.post("collections/list", {}) for _ in range(8)))
    assert [(status, reply["code"]) for status, reply in replies] == [(401, 1800)] * 8


async def password_checks(http: aiohttp.ClientSession, cluster: TestCluster) -> float:
    text = await cluster.metrics(http, "coordinator")
    return metric_sample(text, "quiver_rpc_requests_total", method="CoordinatorServer.Authenticate")


@pytest.mark.parametrize(("name", "code"), [("", 1802), ("1abc", 1100), ("a-b", 1100), ("x" * 33, 1100), ("a b", 1100)])
async def test_bad_user_names_are_refused(v2: V2Client, name: str, code: int) -> None:
    await v2.fails("users/create", {"userName": name, "password": "long-enough"}, code)
    assert name not in await v2.ok("users/list", {})


def test_the_root_password_is_printed_only_when_it_is_the_default(caplog: pytest.LogCaptureFixture) -> None:
    class FirstStart:  # the catalogue of a cluster that has no users yet
        async def ensure_user(self, user: str, digest: str) -> bool:
            return True

    users = Users(FirstStart())  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="coordinator.users"):
        notices = [asyncio.run(users.ensure_root(p)) for p in (DEFAULT_ROOT_PASSWORD, "Configured-Secret-1")]
    default, configured = (record.getMessage() for record in caplog.records)
    assert notices == [default, configured]
    assert f"default password {DEFAULT_ROOT_PASSWORD!r}" in default and "update_password" in default
    assert "--root-password" in configured and "Configured-Secret-1" not in configured


def test_the_first_start_of_the_cluster_said_how_to_change_the_root_password(cluster: TestCluster) -> None:
    log = (cluster.root / "logs" / "coordinator.log").read_text()
    assert log.count("default password 'Milvus'") == 1 and "users/update_password" in log


def test_password_checks_take_the_same_work_for_unknown_users_and_compare_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored = passwords.hash_password("right-password")
    derivations: list[bytes] = []
    comparisons: list[tuple[bytes, bytes]] = []
    scrypt, compare = hashlib.scrypt, hmac.compare_digest
    monkeypatch.setattr(passwords.hashlib, "scrypt", lambda *a, **k: derivations.append(a[0]) or scrypt(*a, **k))
    monkeypatch.setattr(passwords.hmac, "compare_digest", lambda a, b: comparisons.append((a, b)) or compare(a, b))

    assert passwords.check_password("right-password", stored)
    assert not passwords.check_password("wrong-password", stored)
    assert not passwords.check_password("right-password", None)  # no such user: same scrypt
    assert derivations == [b"right-password", b"wrong-password", b"right-password"]
    assert len(comparisons) == 3 and all(len(a) == len(b) == 64 for a, b in comparisons)


# -- rate limits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LimitedProxy:
    v1_url: str
    http_url: str


@pytest.fixture(scope="module")
async def limited(cluster: TestCluster, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LimitedProxy]:
    """A second proxy on the session's cluster, with 2 requests a second per caller in bursts
    of 4."""
    root = tmp_path_factory.mktemp("limited")
    v1_port, http_port = free_port(), free_port()
    proxy = Child(
        "limited-proxy",
        role_argv("proxy", "--host", LOOPBACK, "--v1-port", str(v1_port), "--http-port", str(http_port),
                  "--coordinator", cluster.coordinator_address, "--ingestnode", cluster.ingest_node_address,
                  "--rate-limit", "2", "--rate-burst", "4", "--ready-file", str(root / "proxy.json"), *cluster.log_flags),
        root / "proxy.log",
        root / "proxy.json",
    )
    await proxy.start()
    try:
        await proxy.wait_ready()
        yield LimitedProxy(f"http://{LOOPBACK}:{v1_port}", f"http://{LOOPBACK}:{http_port}")
    finally:
        await proxy.stop()


async def test_each_user_has_its_own_rate_limit_answered_with_the_documented_codes(
    http: aiohttp.ClientSession, cluster: TestCluster, v2: V2Client, limited: LimitedProxy
) -> None:
    bob, password = user_name(), "bobs-Passw0rd"
    await v2.ok("users/create", {"userName": bob, "password": password})
    as_root = V2Client(http, limited.http_url)
    replies = [await as_root.post("collections/list", {}) for _ in range(8)]
    codes = [reply["code"] for _, reply in replies]
    assert codes[:4] == [0] * 4 and 1807 in codes[4:], codes
    status, refused = next(reply for reply in replies if reply[1]["code"] == 1807)
    assert status == 200 and refused["message"].startswith("request is rejected by limiter")

    # Another user's bucket is full; the managed surface answers 429 with Retry-After.
    assert await V2Client(http, limited.http_url, token=f"{bob}:{password}").ok("collections/list", {}) is not None
    managed = ManagedApi(http, limited.http_url)
    statuses = [(await managed.request("GET", "/indexes")) for _ in range(4)]
    late = [reply for reply in statuses if reply.status == 429]
    assert late and int(late[0].headers["Retry-After"]) >= 1 and "rejected by limiter" in late[0].body["detail"]
    await asyncio.sleep(2.5)  # the bucket refills at 2 a second
    assert await as_root.ok("collections/list", {}) is not None


async def test_password_guessing_runs_into_the_address_limit(http: aiohttp.ClientSession, limited: LimitedProxy) -> None:
    guesser = V2Client(http, limited.http_url)
    codes = []
    for attempt in range(8):
        guesser.token = f"root:guess-{attempt}"
        codes.append((await guesser.post("collections/list", {}))[1]["code"])
    assert codes[0] == 1800 and 1807 in codes, codes


async def test_the_v1_surface_is_limited_by_client_address(http: aiohttp.ClientSession, limited: LimitedProxy) -> None:
    v1 = V1Client(http, limited.v1_url)
    await asyncio.sleep(2.5)  # the address's bucket, drained by the guesses above, refills
    statuses = [(await v1.request("GET", "/collections"))[0] for _ in range(8)]
    assert statuses[0] == 200 and 429 in statuses, statuses


# -- files stay inside the data directory -----------------------------------------------------


def files_below(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


HOSTILE_NAMES = ["../../../escaped.txt", "/tmp/quiver-escaped.txt", "..\\..\\escaped.txt", "sub/../../escaped.txt"]


async def test_uploads_cannot_write_outside_the_data_directory(api: ManagedApi, cluster: TestCluster) -> None:
    directory_id = await api.directory(f"hostile_{uuid.uuid4().hex[:8]}")
    outside_before = files_below(cluster.root) - files_below(cluster.root / "ingest")
    placed = [await api.upload(directory_id, name, f"text {i}\n".encode()) for i, name in enumerate(HOSTILE_NAMES)]
    outside_after = files_below(cluster.root) - files_below(cluster.root / "ingest")
    new_outside = {path for path in outside_after - outside_before if "logs" not in path.parts}
    assert new_outside == set()
    assert not Path("/tmp/quiver-escaped.txt").exists()
    assert not any(p.name == "escaped.txt" for p in files_below(cluster.root.parent))
    # The names are kept as names: a download gives the bytes back under them.
    for i, file in enumerate(placed):
        download = await api.ok("GET", f"/beta/files/{file['file_id']}/content")
        async with api.http.get(download["url"], headers={"Authorization": f"Bearer {api.token}"}) as response:
            assert await response.read() == f"text {i}\n".encode()


@pytest.mark.parametrize("name", ["..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "..", "page.png%00"])
async def test_attachment_downloads_cannot_name_files_outside_the_store(api: ManagedApi, name: str) -> None:
    reply = await api.request("GET", f"/beta/attachments/content/{uuid.uuid4()}/{name}")
    assert reply.status in (401, 404, 422), reply
    assert b"root:" not in (reply.body if isinstance(reply.body, bytes) else str(reply.body).encode())


# -- no secret in logs or metrics -------------------------------------------------------------


async def test_no_password_or_api_key_reaches_a_log_or_a_metric(
    http: aiohttp.ClientSession, cluster: TestCluster, v2: V2Client
) -> None:
    carol, password, changed = user_name(), f"pw-{uuid.uuid4().hex}", f"pw-{uuid.uuid4().hex}"
    wrong = f"pw-{uuid.uuid4().hex}"
    await v2.ok("users/create", {"userName": carol, "password": password})
    for token in (f"{carol}:{password}", f"{carol}:{wrong}"):
        await V2Client(http, cluster.http_url, token=token).post("collections/list", {})
    basic = base64.b64encode(f"{carol}:{wrong}".encode()).decode()
    await v2.post("collections/list", {}, {"Authorization": f"Basic {basic}"})
    await v2.ok("users/update_password", {"userName": carol, "password": password, "newPassword": changed})
    await v2.fails("users/update_password", {"userName": carol, "password": wrong, "newPassword": changed}, 1100)
    await v2.fails("users/create", {"userName": "bad name", "password": wrong}, 1100)
    key = await issue_api_key(cluster, carol)
    assert (await ManagedApi(http, cluster.http_url, token=key).request("GET", "/indexes")).status == 200
    forged = key[:-4] + "zzzz"
    assert (await ManagedApi(http, cluster.http_url, token=forged).request("GET", "/indexes")).status == 401
    await asyncio.sleep(0.5)  # log lines are written by the roles as they go

    secrets = [password, changed, wrong, basic, key, key[4:], forged]
    for log in (cluster.root / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        assert not [s for s in secrets if s in text], log.name
    for role in cluster.roles:
        text = await cluster.metrics(http, role)
        assert not [s for s in secrets if s in text], role
    await v2.ok("users/drop", {"userName": carol})
