"""The ``hub`` command as a person runs it: a real subprocess, its one-line failures
(the cause and the variable or option to change, a non-zero status, no traceback unless
``--debug``), API keys only in a database that exists, and help without type noise."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.processes import (
    BACKENDS,
    HUB,
    Process,
    database,
    free_port,
    hub_env,
    unavailable,
    wait_ready,
)


def hub(
    args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HUB, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def one_line(out: subprocess.CompletedProcess[str], code: int) -> str:
    """The single ``hub: ...`` line of a failure (asserting the status and no more)."""
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr and "GraphQL and GraphiQL at" not in out.stdout
    assert lines[0].startswith("hub: ")
    return lines[0]


def pg_server() -> str:
    url = os.environ.get("HUB_TEST_POSTGRES_URL")
    if not url:
        unavailable("PostgreSQL not configured (set HUB_TEST_POSTGRES_URL)")
    return url  # type: ignore[return-value]


@pytest.fixture
def plain_env(tmp_path: Path) -> dict[str, str]:
    """A newcomer's environment: no HUB_ variable set, run in an empty folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_LOG_LEVEL"] = "WARNING"
    return env


# --------------------------------------------------------------------------- start-up


def test_missing_sqlite_folder(tmp_path: Path, plain_env: dict[str, str]) -> None:
    env = {**plain_env, "HUB_DATABASE_URL": f"sqlite:///{tmp_path}/no/such/hub.db"}
    line = one_line(hub(["serve", "--port", "0"], env), 1)
    assert line == (
        f"hub: cannot create the SQLite database {tmp_path}/no/such/hub.db "
        f"(HUB_DATABASE_URL): the folder {tmp_path}/no/such does not exist"
    )
    debug = hub(["--debug", "serve", "--port", "0"], env)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_not_a_database(tmp_path: Path, plain_env: dict[str, str]) -> None:
    (tmp_path / "notes.db").write_text("these are notes, not a database\n" * 50)
    env = {**plain_env, "HUB_DATABASE_URL": f"sqlite:///{tmp_path}/notes.db"}
    line = one_line(hub(["migrate"], env), 1)
    assert line == f"hub: {tmp_path}/notes.db is not a SQLite database (HUB_DATABASE_URL)"


def test_missing_postgres_database(plain_env: dict[str, str]) -> None:
    server = pg_server().replace("postgresql+asyncpg://", "postgresql://")
    base = server.rsplit("/", 1)[0].replace("postgresql://", "postgres://")
    env = {**plain_env, "HUB_DATABASE_URL": f"{base}/hub_no_such_database"}
    line = one_line(hub(["serve", "--port", "0"], env), 1)
    assert line.startswith("hub: PostgreSQL database 'hub_no_such_database' does not exist on ")
    assert "(HUB_DATABASE_URL=postgresql+asyncpg://" in line and "createdb" in line


def test_unreachable_postgres(plain_env: dict[str, str]) -> None:
    port = free_port()
    env = {**plain_env, "HUB_DATABASE_URL": f"postgresql://nobody:secret@127.0.0.1:{port}/x"}
    line = one_line(hub(["migrate"], env), 1)
    assert line == (
        f"hub: cannot reach PostgreSQL at 127.0.0.1:{port} (HUB_DATABASE_URL=postgresql+"
        f"asyncpg://nobody:***@127.0.0.1:{port}/x): connection refused; is it running?"
    )


def test_bad_settings_name_their_variable(tmp_path: Path, plain_env: dict[str, str]) -> None:
    cases = {
        "HUB_CORS_ORIGINS": ("shop.example.com", "each origin is * or scheme://host[:port]"),
        "HUB_DATABASE_URL": ("mysql://db/hub", "must be sqlite+aiosqlite:///PATH"),
        "HUB_MAX_PAGE_SIZE": ("lots", "valid integer"),
        "HUB_LOG_LEVEL": ("chatty", "DEBUG"),
    }
    for name, (value, says) in cases.items():
        line = one_line(hub(["serve", "--port", "0"], {**plain_env, name: value}, tmp_path), 2)
        assert line.startswith(f"hub: invalid setting {name}: "), line
        assert says in line, line
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_cors_origins_as_a_list(tmp_path: Path, plain_env: dict[str, str]) -> None:
    """The value from the issue (one origin, no JSON) works, and so does a list."""
    env = {
        **plain_env,
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path}/hub.db",
        "HUB_CORS_ORIGINS": "https://shop.example.com, https://app.example.com/",
    }
    port = free_port()
    proc = Process.start(["serve", "--port", str(port)], env, tmp_path / "serve.log")
    proc.url = f"http://127.0.0.1:{port}"
    try:
        wait_ready([proc])
        for origin, allowed in (
            ("https://shop.example.com", True),
            ("https://app.example.com", True),
            ("https://evil.example.com", False),
        ):
            got = httpx.options(
                f"{proc.url}/graphql",
                headers={"origin": origin, "access-control-request-method": "POST"},
            )
            assert (got.headers.get("access-control-allow-origin") == origin) is allowed
    finally:
        proc.stop()


def test_unreachable_redis(tmp_path: Path, plain_env: dict[str, str]) -> None:
    port = free_port()
    env = {
        **plain_env,
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path}/hub.db",
        "HUB_REDIS_URL": f"redis://127.0.0.1:{port}/0",
    }
    line = one_line(hub(["serve", "--port", "0"], env), 1)
    assert line.startswith(
        f"hub: cannot reach Redis at redis://127.0.0.1:{port}/0 (HUB_REDIS_URL): "
    )
    assert "refused" in line.lower() or "connect" in line.lower()


def test_port_in_use_fails_first(tmp_path: Path, plain_env: dict[str, str]) -> None:
    env = {**plain_env, "HUB_DATABASE_URL": f"sqlite:///{tmp_path}/hub.db"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = hub(["serve", "--demo", "--port", str(port)], env)
    line = one_line(out, 1)
    assert line == (
        f"hub: port {port} on 127.0.0.1 is in use by another program (--port): "
        "stop it or choose another port"
    )
    assert out.stdout == ""  # nothing announced, nothing seeded
    assert not (tmp_path / "hub.db").exists()  # and nothing migrated: the port came first


def test_several_workers_need_postgres(tmp_path: Path, plain_env: dict[str, str]) -> None:
    env = {**plain_env, "HUB_DATABASE_URL": f"sqlite:///{tmp_path}/hub.db"}
    line = one_line(hub(["serve", "--workers", "2", "--port", "0"], env), 2)
    assert line.startswith("hub: --workers 2 needs PostgreSQL: on SQLite (HUB_DATABASE_URL)")


# --------------------------------------------------------------------------- API keys


def test_apikey_refuses_to_create_a_database(tmp_path: Path, plain_env: dict[str, str]) -> None:
    """The issue's trap: `hub apikey create` in another folder made a new ./hub.db."""
    for args in (
        ["apikey", "create", "--scope", "admin"],
        ["apikey", "revoke", "1"],
        ["apikey", "list"],
    ):
        line = one_line(hub(args, plain_env, cwd=tmp_path), 1)
        assert line == (
            f"hub: no hub database at {tmp_path}/hub.db (HUB_DATABASE_URL=sqlite+aiosqlite:"
            "///./hub.db); run this where the hub keeps its database, set HUB_DATABASE_URL "
            "to it, or create one with `hub migrate`"
        )
        assert list(tmp_path.iterdir()) == []


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment on an existing database the hub has never migrated."""
    with database(request.param, tmp_path, tag="cli") as url:
        if request.param == "sqlite":
            import sqlite3

            sqlite3.connect(tmp_path / "hub.db").close()  # an empty file
        yield hub_env(url)


def test_apikey_lifecycle(empty_db: dict[str, str]) -> None:
    env = empty_db
    shown = _shown(env["HUB_DATABASE_URL"])
    line = one_line(hub(["apikey", "create", "--scope", "admin"], env), 1)
    assert line == (
        f"hub: {shown} (HUB_DATABASE_URL) is not a hub database yet (no migrations "
        "applied); run `hub migrate` (or `hub serve`) on it first"
    )
    migrated = hub(["migrate"], env)
    assert migrated.returncode == 0 and f"database {shown} is up to date" in migrated.stdout

    made = hub(
        ["apikey", "create", "--scope", "admin", "--scope", "connector", "--name", "till"], env
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("hub_")
    key_id = re.fullmatch(
        rf"hub: key (\d+) created with scopes admin, connector in {re.escape(shown)}; "
        "the token is not shown again\n",
        made.stderr,
    )
    assert key_id, made.stderr

    listed = hub(["apikey", "list"], env)
    assert listed.returncode == 0 and listed.stderr == f"hub: 1 key in {shown}\n"
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "PREFIX", "SCOPES", "CUSTOMER", "CREATED", "REVOKED"]
    cells = row.split()
    assert cells[:5] == [key_id.group(1), "till", token[:12], "admin,connector", "-"]
    assert cells[-1] == "-"  # not revoked
    assert token not in listed.stdout  # only the prefix

    revoked = hub(["apikey", "revoke", key_id.group(1)], env)
    assert (
        revoked.returncode == 0
        and revoked.stdout == f"hub: key {key_id.group(1)} revoked in {shown}\n"
    )
    again = one_line(hub(["apikey", "revoke", key_id.group(1)], env), 1)
    assert again == f"hub: no active key {key_id.group(1)} in {shown} (HUB_DATABASE_URL)"
    as_json = hub(["apikey", "list", "--json"], env)
    import json

    (entry,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert entry["id"] == int(key_id.group(1)) and entry["revoked"] is not None
    assert set(entry) == {"id", "name", "prefix", "scopes", "customer", "created", "revoked"}

    bad = one_line(hub(["apikey", "create", "--scope", "root"], env), 2)
    assert bad.startswith("hub: unknown scope(s) root; choose from")


def _shown(url: str) -> str:
    from hub.settings import describe_database, load_settings

    return describe_database(load_settings(database_url=url).database_url)


def test_postgres_scheme_is_accepted(tmp_path: Path) -> None:
    with database("postgresql", tmp_path, tag="cli") as url:
        plain = url.replace("postgresql+asyncpg://", "postgresql://").replace(
            "postgresql://", "postgres://", 1
        )
        assert plain.startswith("postgres://")
        out = hub(["migrate"], hub_env(plain))
        assert out.returncode == 0, out.stderr
        assert "postgresql+asyncpg://" in out.stdout


# --------------------------------------------------------------------------- help


COMMANDS = [
    [],
    ["serve"],
    ["migrate"],
    ["seed"],
    ["worker"],
    ["apikey"],
    ["apikey", "create"],
    ["apikey", "revoke"],
    ["apikey", "list"],
    ["inventory", "verify"],
    ["graphiql"],
    ["graphiql", "install"],
]


def test_help_has_no_type_noise(plain_env: dict[str, str]) -> None:
    for cmd in COMMANDS:
        out = hub([*cmd, "--help"], {**plain_env, "COLUMNS": "100"})
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("Usage: "), out.stdout
        noise = re.findall(r"<[a-z][a-z \[\]]*>|\b(?:TEXT|INTEGER|BOOLEAN)\b|[╭│╰]", out.stdout)
        assert noise == [], f"hub {' '.join(cmd)} --help: {noise}\n{out.stdout}"
    serve = hub(["serve", "--help"], plain_env).stdout
    assert "--port PORT" in serve and "--workers N" in serve and "--demo " in serve


def test_two_workers_serve_on_postgres(tmp_path: Path) -> None:
    """The port bound by `hub serve` itself is shared by uvicorn's worker processes."""
    with database("postgresql", tmp_path, tag="cli") as url:
        port = free_port()
        proc = Process.start(
            ["serve", "--workers", "2", "--port", str(port)], hub_env(url), tmp_path / "s.log"
        )
        proc.url = f"http://127.0.0.1:{port}"
        try:
            wait_ready([proc])
            statuses = {httpx.get(f"{proc.url}/readyz").json()["status"] for _ in range(4)}
            assert statuses == {"ok"}
            assert f"GraphQL and GraphiQL at http://127.0.0.1:{port}/graphql" in proc.output()
        finally:
            assert proc.stop() == 0, proc.output()
