"""The production stack in docker/ agrees with the code: no Docker engine runs here, so the files are read and
cross-checked (services, ports, BEFFROI_* variables, mounted paths, broker, ChirpStack and image settings)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.api.app import ApiContext, build_app
from ingest.config import SETTINGS, load_config

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
ENV_EXAMPLE = dict(line.split("=", 1) for line in (DOCKER / ".env.example").read_text().splitlines()
                   if line.strip() and not line.startswith("#"))
_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message}."""
    def repl(m: re.Match[str]) -> str:
        if env.get(m["name"]):
            return env[m["name"]]
        return m["arg"] if m["op"] == "-" else ""
    return _VAR.sub(repl, value)


def _filled_env() -> dict[str, str]:
    """.env.example with a placeholder for each secret left empty."""
    return {k: v or f"test-{k.lower()}-0123456789abcdef" for k, v in ENV_EXAMPLE.items()}


def _environment(service: str) -> dict[str, str]:
    raw = SERVICES[service].get("environment", {})
    env = _filled_env()
    return {k: _interpolate(str(v), env) for k, v in raw.items()}


def _mounts(service: str) -> list[tuple[str, str]]:
    out = []
    for item in SERVICES[service].get("volumes", []):
        source, target = item.split(":")[:2]
        out.append((_interpolate(source, {}), target))
    return out


def test_the_stack_has_every_component() -> None:
    assert {"timescaledb", "mosquitto", "chirpstack", "chirpstack-postgres", "redis", "grafana", "beffroi",
            "chirpstack-gateway-bridge", "prometheus"} <= set(SERVICES)
    assert SERVICES["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert SERVICES["chirpstack"]["image"].startswith("chirpstack/chirpstack:4")


def test_every_variable_the_compose_file_reads_is_in_env_example() -> None:
    text = (DOCKER / "compose.yaml").read_text()
    used = {m["name"] for m in _VAR.finditer(text)}
    assert used - set(ENV_EXAMPLE) == set(), "add these to docker/.env.example"
    assert set(ENV_EXAMPLE) - used == set(), "docker/.env.example lists variables the stack never reads"


def test_every_beffroi_variable_is_a_real_setting_and_the_service_configuration_loads() -> None:
    known = {s.env_name for s in SETTINGS}
    env = _environment("beffroi")
    unknown = sorted(k for k in env if k.startswith("BEFFROI_") and k not in known)
    assert not unknown, f"not Beffroi settings: {unknown}"
    config = load_config(None, environ=env)          # types and checks as at start-up
    assert config.get("database", "timescaledb") == "on"
    assert config.get("mqtt", "url").startswith("mqtt://beffroi:")


def test_ports_and_health_check_match_the_service() -> None:
    env = _environment("beffroi")
    port = env["BEFFROI_HTTP_LISTEN"].rsplit(":", 1)[1]
    assert [p.rsplit(":", 1)[1] for p in SERVICES["beffroi"]["ports"]] == [port]
    dockerfile = (DOCKER / "beffroi" / "Dockerfile").read_text()
    assert f"EXPOSE {port}" in dockerfile
    assert f"127.0.0.1:{port}/healthz" in dockerfile
    prometheus = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    job = prometheus["scrape_configs"][0]
    assert job["static_configs"][0]["targets"] == [f"beffroi:{port}"]
    app = build_app(ApiContext(config=load_config(None, environ={})))
    routes = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert {"/healthz", job["metrics_path"]} <= routes
    assert [p.split(":")[-1] for p in SERVICES["mosquitto"]["ports"]] == ["1883"]


def test_the_image_is_non_root_migrates_then_runs_and_ships_every_package() -> None:
    dockerfile = (DOCKER / "beffroi" / "Dockerfile").read_text()
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert "HEALTHCHECK" in dockerfile
    entry = re.findall(r"^ENTRYPOINT (.+)$", dockerfile, re.M)[-1]
    assert entry.index("beffroi migrate") < entry.index("exec beffroi run")
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for pattern in packages["include"]:
        name = pattern.rstrip("*")
        assert f"COPY {name} ./{name}" in dockerfile, f"the image misses the {name} package"
    assert "-c constraints.txt" in dockerfile       # the pinned versions CI tested


def test_mounted_files_exist_in_the_repository() -> None:
    for service in SERVICES:
        for source, _ in _mounts(service):
            if source.startswith("."):
                assert (DOCKER / source).exists(), f"{service} mounts {source}, which does not exist"
    grafana = dict((t, s) for s, t in _mounts("grafana"))
    assert (DOCKER / grafana["/etc/grafana/provisioning"]).resolve() == ROOT / "dashboards" / "provisioning"
    generated = (DOCKER / grafana["/var/lib/grafana/dashboards/beffroi"]).resolve()
    assert generated == ROOT / "dashboards" / "generated" and list(generated.glob("*.json"))


def test_grafana_gets_every_variable_its_provisioning_reads() -> None:
    env = _environment("grafana")
    provisioning = ROOT / "dashboards" / "provisioning"
    wanted = set()
    for file in provisioning.rglob("*.yaml"):
        wanted |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", file.read_text()))
    assert wanted and wanted <= set(env), f"missing in grafana's environment: {wanted - set(env)}"
    dashboards = yaml.safe_load((provisioning / "dashboards" / "beffroi.yaml").read_text())
    assert dashboards["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/beffroi"
    init = (DOCKER / "timescaledb" / "initdb" / "10-beffroi.sh").read_text()
    assert f"CREATE ROLE {env['GRAFANA_PG_USER']} " in init


def test_the_database_init_creates_what_beffroi_connects_as() -> None:
    url = _environment("beffroi")["BEFFROI_DATABASE_URL"]
    user, database = re.match(r"postgresql://([^:]+):[^@]+@timescaledb:5432/(\w+)$", url).groups()  # type: ignore[union-attr]
    init = (DOCKER / "timescaledb" / "initdb" / "10-beffroi.sh").read_text()
    assert f"CREATE ROLE {user} LOGIN" in init and f"CREATE DATABASE {database} OWNER {user}" in init
    assert any(t.startswith("/docker-entrypoint-initdb.d/1") for _, t in _mounts("timescaledb"))


def test_the_grafana_role_gets_the_read_path_settings() -> None:
    # docs/deployment.md, "The Grafana role": what the dashboards' timings assume
    user = _environment("grafana")["GRAFANA_PG_USER"]
    init = (DOCKER / "timescaledb" / "initdb" / "10-beffroi.sh").read_text()
    assert f"ALTER ROLE {user} SET work_mem = '64MB';" in init
    assert f"ALTER ROLE {user} SET jit = off;" in init
    assert "ALTER ROLE grafana_reader SET work_mem = '64MB'" in (ROOT / "docs" / "deployment.md").read_text()


def _mosquitto_conf() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (DOCKER / "mosquitto" / "mosquitto.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out.setdefault(key, []).append(value.strip())
    return out


def test_mosquitto_authenticates_persists_and_queues_enough_for_an_outage() -> None:
    conf = _mosquitto_conf()
    assert conf["allow_anonymous"] == ["false"]
    assert conf["persistence"] == ["true"]
    assert int(conf["max_queued_messages"][0]) >= 100_000     # the default 1000 silently drops QoS 1 messages
    assert re.fullmatch(r"\d+[hdwmy]", conf["persistent_client_expiration"][0])
    targets = {t for _, t in _mounts("mosquitto")}
    for key in ("password_file", "acl_file"):
        assert any(conf[key][0].startswith(t) for t in targets), f"{key} {conf[key][0]} is not mounted"
    assert any(t.startswith(conf["persistence_location"][0].rstrip("/")) for t in targets)
    script = (DOCKER / "mosquitto" / "make-passwd.sh").read_text()
    with_password = set(re.findall(r'mosquitto_passwd -b "\$file.new" (\S+) "\$(\w+)"', script))
    assert {user for user, _ in with_password} == set(_acl_users())
    assert {var for _, var in with_password} <= set(SERVICES["mosquitto-passwords"]["environment"])


def _acl_users() -> dict[str, list[tuple[str, str]]]:
    users: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in (DOCKER / "mosquitto" / "acl").read_text().splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "user":
            current = parts[1]
            users[current] = []
        elif parts[0] == "topic":
            access, topic = (parts[1], parts[2]) if len(parts) == 3 else ("readwrite", parts[1])
            users[current].append((access, topic))
    return users


def _matches(pattern: str, topic: str) -> bool:
    p, t = pattern.split("/"), topic.split("/")
    for i, part in enumerate(p):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(p) == len(t)


def test_the_acl_lets_each_party_use_exactly_its_topics() -> None:
    users = _acl_users()
    beffroi_user = re.match(r"mqtt://([^:]+):", _environment("beffroi")["BEFFROI_MQTT_URL"])[1]  # type: ignore[index]
    filter_ = load_config(None, environ={}).get("mqtt", "chirpstack_topic")
    assert ("read", filter_) in users[beffroi_user]
    assert all(access == "read" for access, _ in users[beffroi_user])       # Beffroi never publishes
    chirpstack = tomllib.loads((DOCKER / "chirpstack" / "chirpstack.toml").read_text())
    mqtt = chirpstack["integration"]["mqtt"]
    event = re.sub(r"\{\{\s*\w+\s*\}\}", "x", mqtt["event_topic"]).replace("event/x", "event/up")
    assert _matches(filter_, event), "Beffroi would not receive ChirpStack's events"
    assert any(a in ("write", "readwrite") and _matches(t, event) for a, t in users[mqtt["username"]])


def test_chirpstack_publishes_events_with_qos_1_for_the_eu868_region() -> None:
    chirpstack = tomllib.loads((DOCKER / "chirpstack" / "chirpstack.toml").read_text())
    assert "mqtt" in chirpstack["integration"]["enabled"]
    assert chirpstack["integration"]["mqtt"]["qos"] == 1
    assert chirpstack["integration"]["mqtt"]["json"] is True
    region = tomllib.loads((DOCKER / "chirpstack" / "region_eu868.toml").read_text())["regions"][0]
    assert chirpstack["network"]["enabled_regions"] == [region["id"]] == ["eu868"]
    assert region["gateway"]["backend"]["mqtt"]["topic_prefix"] == "eu868"
    env = SERVICES["chirpstack"]["environment"]
    for file in ("chirpstack.toml", "region_eu868.toml"):
        settings = "\n".join(line for line in (DOCKER / "chirpstack" / file).read_text().splitlines()
                             if not line.lstrip().startswith("#"))
        for var in re.findall(r"\$([A-Z][A-Z0-9_]+)", settings):
            assert var in env, f"{file} reads ${var}, which chirpstack's environment does not set"


@pytest.mark.parametrize("path", ["docs/deployment.md"])
def test_the_deployment_guide_covers_first_start_data_backup_and_upgrades(path: str) -> None:
    text = (ROOT / path).read_text()
    for needle in ("docker compose", "pg_dump", "beffroi migrate", "beffroi tokens create", "volume",
                   "max_queued_messages"):
        assert needle in text, f"{path} does not mention {needle}"
