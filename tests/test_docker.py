"""Static checks of the container files (no Docker engine is needed to run them)."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.helpers.processes import Process, database, free_port, hub_env, wait_ready

ROOT = Path(__file__).resolve().parents[1]
DOCKER_DIR = ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"

SERVICES = {"hub", "worker", "postgres", "redis"}
APP_SERVICES = ("hub", "worker")


# --- helpers ---------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "compose.yaml must be a mapping"
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose().get("services")
    assert isinstance(services, dict), "compose.yaml has no services mapping"
    return services


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, in either the mapping or the ``KEY=value`` list form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _argv(command: str | list[str] | None) -> list[str]:
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {} for name in deps}
    return {name: (cond or {}) for name, cond in deps.items()}


def _published_ports(service: dict[str, Any]) -> set[tuple[str, str]]:
    """(host port, container port) pairs from short or long port syntax."""
    published = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published.add((str(entry.get("published", "")), str(entry.get("target", ""))))
            continue
        spec = str(entry).split("/", 1)[0]
        parts = spec.split(":")
        container = parts[-1]
        host = parts[-2] if len(parts) >= 2 else ""
        published.add((host, container))
    return published


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with comments dropped and continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each starting with its FROM."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        assert stages, f"{keyword} before the first FROM"
        stages[-1].append((keyword, args))
    return stages


def _exec_form(args: str) -> list[str]:
    args = args.strip()
    if args.startswith("["):
        value = json.loads(args)
        assert isinstance(value, list)
        return [str(part) for part in value]
    return shlex.split(args)


# --- compose.yaml ----------------------------------------------------------------


def test_compose_defines_exactly_the_four_services() -> None:
    assert set(_services()) == SERVICES


def test_app_services_build_the_project_dockerfile() -> None:
    services = _services()
    for name in APP_SERVICES:
        build = services[name].get("build")
        assert build is not None, f"{name} must build the project image"
        if isinstance(build, str):
            context, dockerfile = build, "Dockerfile"
        else:
            context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
        context_dir = (COMPOSE_FILE.parent / context).resolve()
        assert context_dir == ROOT, f"{name}: the build context must be the repository root"
        assert (context_dir / dockerfile).resolve() == DOCKERFILE.resolve()
    # Both run the same image.
    assert services["hub"].get("build") == services["worker"].get("build")
    assert services["hub"].get("image") == services["worker"].get("image")


def test_backing_services_use_the_expected_images() -> None:
    services = _services()
    assert str(services["postgres"]["image"]).split("@")[0] == "postgres:16"
    assert str(services["redis"]["image"]).split("@")[0] == "redis:7"


def test_app_services_point_at_postgres_and_redis() -> None:
    services = _services()
    for name in APP_SERVICES:
        env = _environment(services[name])

        database = urlsplit(env.get("HUB_DATABASE_URL", ""))
        assert database.scheme == "postgresql+asyncpg", f"{name}: HUB_DATABASE_URL scheme"
        assert database.hostname == "postgres", f"{name}: HUB_DATABASE_URL host"
        assert database.port in (None, 5432)

        redis = urlsplit(env.get("HUB_REDIS_URL", ""))
        assert redis.scheme == "redis", f"{name}: HUB_REDIS_URL scheme"
        assert redis.hostname == "redis", f"{name}: HUB_REDIS_URL host"


def test_database_credentials_match_postgres_service() -> None:
    services = _services()
    pg_env = _environment(services["postgres"])
    assert pg_env["POSTGRES_USER"] == pg_env["POSTGRES_PASSWORD"] == pg_env["POSTGRES_DB"] == "hub"
    database = urlsplit(_environment(services["hub"])["HUB_DATABASE_URL"])
    assert database.username == pg_env["POSTGRES_USER"]
    assert database.password == pg_env["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == pg_env["POSTGRES_DB"]


def test_worker_runs_hub_worker() -> None:
    assert _argv(_services()["worker"].get("command"))[:2] == ["hub", "worker"]


def test_hub_serves_on_published_port_8000() -> None:
    hub = _services()["hub"]
    assert ("8000", "8000") in _published_ports(hub)
    command = _argv(hub.get("command"))
    # Without a command the image's CMD (`hub serve`, checked below) applies.
    if command:
        assert command[:2] == ["hub", "serve"]


def test_dependencies_and_health_checks() -> None:
    services = _services()
    hub_deps = _depends_on(services["hub"])
    assert {"postgres", "redis"} <= set(hub_deps)
    assert hub_deps["postgres"].get("condition") == "service_healthy"
    assert {"postgres", "redis"} <= set(_depends_on(services["worker"]))

    assert "healthcheck" in services["hub"]
    assert "pg_isready" in " ".join(_argv(services["postgres"]["healthcheck"]["test"]))
    assert "redis-cli ping" in " ".join(_argv(services["redis"]["healthcheck"]["test"]))


def test_postgres_data_lives_on_a_volume() -> None:
    compose = _compose()
    volumes = _services()["postgres"].get("volumes") or []
    assert volumes, "postgres needs a volume for its data"
    declared = set((compose.get("volumes") or {}).keys())
    for volume in volumes:
        source = volume["source"] if isinstance(volume, dict) else str(volume).split(":", 1)[0]
        if not source.startswith((".", "/")):
            assert source in declared, f"named volume {source!r} is not declared"


# --- Dockerfile ------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_python_311() -> None:
    stages = _stages()
    assert len(stages) >= 2, "expected a builder and a runtime stage"
    for stage in stages:
        image = stage[0][1].split()[0]
        assert image.startswith("python:3.11"), f"unexpected base image {image!r}"


def test_dockerfile_builds_and_installs_the_project() -> None:
    builder, *_, runtime = _stages()
    builder_runs = " ".join(args for keyword, args in builder if keyword == "RUN")
    assert "pip wheel" in builder_runs
    runtime_runs = " ".join(args for keyword, args in runtime if keyword == "RUN")
    assert "pip install" in runtime_runs
    assert "commerce-hub" in runtime_runs or "/wheels" in runtime_runs


def test_dockerfile_runs_as_non_root_user() -> None:
    runtime = _stages()[-1]
    users = [args.split(":", 1)[0] for keyword, args in runtime if keyword == "USER"]
    assert users, "the runtime stage must set USER"
    assert users[-1] not in {"root", "0"}


def test_dockerfile_serves_the_api() -> None:
    runtime = _stages()[-1]
    exposed = [args for keyword, args in runtime if keyword == "EXPOSE"]
    assert any("8000" in args.split() for args in exposed)
    cmds = [args for keyword, args in runtime if keyword == "CMD"]
    assert cmds, "the runtime stage needs a CMD"
    assert _exec_form(cmds[-1])[:2] == ["hub", "serve"]
    healthchecks = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert healthchecks and "/healthz" in healthchecks[-1]


# --- settings passed through, the demo, the production example ---------------------

PASSED_THROUGH = {
    "HUB_DEMO",
    "HUB_ENV",
    "HUB_STRIPE_API_KEY",
    "HUB_STRIPE_WEBHOOK_SECRET",
    "HUB_TEST_PAYMENTS",
}
PRODUCTION_FILE = DOCKER_DIR / "compose.production.yaml"
ENTRYPOINT = DOCKER_DIR / "entrypoint.sh"


def test_settings_are_passed_through_from_the_shell() -> None:
    """Stripe, test payments, HUB_ENV and HUB_DEMO reach the hub and the worker when set
    in the shell, and stay unset (not empty) when not: a key without a value."""
    for name in APP_SERVICES:
        env = _services()[name].get("environment")
        assert isinstance(env, dict)
        for var in PASSED_THROUGH:
            assert var in env, f"{name} does not pass {var} through"
            assert env[var] is None, f"{name}: {var} should take the shell's value"


def test_image_uses_the_entrypoint_and_installs_graphiql() -> None:
    runtime = _stages()[-1]
    entry = [args for keyword, args in runtime if keyword == "ENTRYPOINT"]
    assert entry and _exec_form(entry[-1]) == ["hub-entrypoint"]
    copies = [args for keyword, args in runtime if keyword == "COPY"]
    assert any("docker/entrypoint.sh /usr/local/bin/hub-entrypoint" in c for c in copies)
    runs = " ".join(args for keyword, args in runtime if keyword == "RUN")
    assert "hub graphiql install" in runs  # GraphiQL served without a CDN
    assert "hub/static/graphiql/" in (ROOT / ".dockerignore").read_text()


def _commands(text: str) -> set[str]:
    """The docker compose command lines in a text (comments and README lines alike)."""
    found = set()
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if "docker compose" in line:
            found.add(" ".join(line.split()))
    return found


def test_readme_and_compose_agree() -> None:
    readme = _commands((ROOT / "README.md").read_text())
    compose = _commands(COMPOSE_FILE.read_text())
    production = _commands(PRODUCTION_FILE.read_text())
    up = "HUB_DEMO=1 docker compose -f docker/compose.yaml up --build"
    key = "docker compose -f docker/compose.yaml exec hub hub apikey create --scope admin --name me"
    prod = "docker compose -f docker/compose.yaml -f docker/compose.production.yaml up -d --build"
    assert {up, key} <= compose
    assert prod in production
    assert {up, key, prod} <= readme, readme
    # Every compose command the README shows is one the compose files document.
    assert readme <= compose | production, readme - (compose | production)


def test_production_example() -> None:
    data = yaml.safe_load(PRODUCTION_FILE.read_text(encoding="utf-8"))
    services = data["services"]
    assert set(services) <= SERVICES
    for name in APP_SERVICES:
        env = _environment(services[name])
        assert env["HUB_ENV"] == "production"
        assert env["HUB_INTROSPECTION"] == "false"
        assert env["HUB_GRAPHIQL"] == "false"
        assert env["HUB_TEST_PAYMENTS"] == "false"
        assert env["HUB_DEMO"] == "0"
        # Secrets come from the operator; compose refuses to start without them.
        for var in ("HUB_STRIPE_API_KEY", "HUB_STRIPE_WEBHOOK_SECRET", "HUB_CORS_ORIGINS"):
            assert env[var].startswith("${" + var + ":?"), var
        assert "${POSTGRES_PASSWORD:?" in env["HUB_DATABASE_URL"]
        assert urlsplit(env["HUB_DATABASE_URL"].replace("${", "").replace("}", "")).hostname
    assert _environment(services["postgres"])["POSTGRES_PASSWORD"].startswith(
        "${POSTGRES_PASSWORD:?"
    )


# --- the entrypoint, run directly (no Docker engine is needed) ----------------------


def _entry(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _path_env(url: str, **extra: str) -> dict[str, str]:
    """The environment the image gives the entrypoint: `hub` on PATH."""
    env = hub_env(url, **extra)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_entrypoint_refuses_a_bad_demo_value(tmp_path: Path) -> None:
    out = _entry(["hub", "serve"], _path_env(f"sqlite:///{tmp_path}/hub.db", HUB_DEMO="maybe"))
    assert out.returncode == 2
    assert out.stderr == "hub: invalid setting HUB_DEMO: use 1 or 0 (got 'maybe')\n"
    assert not (tmp_path / "hub.db").exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_entrypoint_seeds_the_demo_then_serves(backend: str, tmp_path: Path) -> None:

    with database(backend, tmp_path, tag="docker") as url:
        # Another command than `hub serve` (the worker's) seeds nothing.
        other = _entry(["hub", "migrate"], _path_env(url, HUB_DEMO="1"))
        assert other.returncode == 0, other.stderr
        assert "HUB_DEMO is set" not in other.stdout
        assert "demo data loaded" not in other.stdout

        port = free_port()
        env = _path_env(url, HUB_DEMO="true")
        served = Process.spawn(
            ["sh", str(ENTRYPOINT), "hub", "serve", "--port", str(port)],
            env,
            tmp_path / "serve.log",
            url=f"http://127.0.0.1:{port}",
        )
        try:
            wait_ready([served], timeout=240)
            res = httpx.post(
                f"{served.url}/graphql",
                json={"query": "{ channels { handle } products(first: 1) { nodes { handle } } }"},
            ).json()
            assert [c["handle"] for c in res["data"]["channels"]] == ["web", "eu"]
            assert len(res["data"]["products"]["nodes"]) == 1
            assert "demo data loaded: 2 channels, 600 products" in served.output()
        finally:
            assert served.stop() in (0, -15)

        # Started again on the same database (here onto a port in use, so that it stops
        # after the entrypoint's part): the catalog is kept, nothing is loaded again.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = taken.getsockname()[1]
            again = _entry(["hub", "serve", "--port", str(busy)], env)
        assert again.returncode == 1
        assert "catalog already present; not seeding demo data" in again.stdout
        assert again.stderr.strip().endswith(
            f"hub: port {busy} on 127.0.0.1 is in use by another program (--port): "
            "stop it or choose another port"
        )
