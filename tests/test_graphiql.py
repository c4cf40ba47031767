"""GraphiQL without internet access: ``hub graphiql install`` fetches its scripts from
the npm registry (pinned, checked), the hub serves them, and a real browser (Debian's
headless Chromium, driven by Playwright, the network beyond 127.0.0.1 cut off) runs a
query in the page.

The browser test fetches the assets from the real npm registry once per run (the
project's machines reach it; it is a package registry like PyPI); a failing fetch
skips locally and fails under CI. The refusal of a tampered package runs against a
stand-in registry started by the test.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from hub import graphiql
from tests.helpers.processes import HUB, Process, free_port, hub_env, unavailable, wait_ready

CHROMIUM = Path("/usr/bin/chromium")
# What .ci/run and the README ask for: a headless Chromium that makes no connection of
# its own, in a fresh profile.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No name but 127.0.0.1 resolves: a CDN is unreachable, as on a closed network.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def _cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HUB, *args], env=env or dict(os.environ), capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GraphiQL's assets, installed by the real command from the npm registry."""
    folder = tmp_path_factory.mktemp("graphiql") / "assets"
    out = _cli(["graphiql", "install", "--dir", str(folder)])
    if out.returncode != 0:
        unavailable(f"hub graphiql install failed (npm registry unreachable?): {out.stderr}")
    assert out.stderr == "", out.stderr
    assert out.stdout.startswith(f"hub: GraphiQL installed in {folder} (6 files)"), out.stdout
    assert graphiql.installed(folder)
    return folder


@pytest.fixture
def served(tmp_path: Path, assets: Path) -> Iterator[Process]:
    """``hub serve --demo`` on SQLite with the installed assets."""
    env = hub_env(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}", HUB_GRAPHIQL_ASSETS_DIR=str(assets))
    assert "demo data loaded" in _cli(["seed", "--demo", "--products", "20"], env).stdout
    port = free_port()
    proc = Process.start(["serve", "--port", str(port)], env, tmp_path / "serve.log")
    proc.url = f"http://127.0.0.1:{port}"
    try:
        wait_ready([proc])
        yield proc
    finally:
        proc.stop()


def test_the_page_loads_its_scripts_from_the_hub_once_installed(served: Process) -> None:
    page = httpx.get(f"{served.url}/graphql", headers={"accept": "text/html"}).text
    assert "unpkg.com" not in page and "https://" not in page.split("<script>")[0]
    for asset in graphiql.ASSETS:
        assert f'"/graphiql/{asset.location}" integrity="{asset.sri}"' in page
        got = httpx.get(f"{served.url}/graphiql/{asset.location}")
        assert got.status_code == 200
        digest = base64.b64encode(hashlib.sha384(got.content).digest()).decode()
        assert f"sha384-{digest}" == asset.sri
        assert "immutable" in got.headers["cache-control"]


def test_without_the_assets_the_page_uses_the_cdn(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    page = graphiql.PageCache(missing).page()
    assert not graphiql.installed(missing)
    for asset in graphiql.ASSETS:
        assert f'"https://unpkg.com/{asset.location}" integrity="{asset.sri}"' in page


def test_graphiql_runs_a_query_in_headless_chromium(
    served: Process, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if not CHROMIUM.exists():
        unavailable("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    expected = httpx.post(
        f"{served.url}/graphql", json={"query": "{ products(first: 3) { nodes { title } } }"}
    ).json()["data"]["products"]["nodes"]
    titles = [n["title"] for n in expected]
    assert len(titles) == 3

    query = "{ products(first: 3) { nodes { title } } }"
    requested: list[str] = []
    blocked: list[str] = []
    errors: list[str] = []
    shot = tmp_path / "graphiql.png"
    profile = tmp_path / "chromium-profile"
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 800},
        )
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            def route(r) -> None:  # type: ignore[no-untyped-def]
                url = r.request.url
                requested.append(url)
                if url.startswith((served.url + "/", "data:")):
                    r.continue_()
                else:
                    blocked.append(url)
                    r.abort()

            page.route("**/*", route)
            page.goto(f"{served.url}/graphql?q={quote(query)}", wait_until="load")
            page.wait_for_selector(".graphiql-execute-button", timeout=30_000)
            page.click(".graphiql-execute-button")
            page.wait_for_function(
                "t => (document.querySelector('.graphiql-response')?.innerText || '').includes(t)",
                arg=titles[-1],
                timeout=30_000,
            )
            result = page.inner_text(".graphiql-response")
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    print(f"\nGraphiQL screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    assert blocked == [], f"the page asked for outside resources: {blocked}"
    assert errors == [], errors
    assert any("/graphiql/graphiql@3.8.3/graphiql.min.js" in u for u in requested)
    for title in titles:
        assert title in result
    assert '"errors"' not in result


# --------------------------------------------------------------------------- refusals


class _Registry(ThreadingHTTPServer):
    """A stand-in npm registry: package metadata (``GET /<name>/<version>``, the
    documented shape with ``dist.tarball``) and tarballs whose contents the test sets."""

    tarballs: dict[str, bytes]


class _Handler(BaseHTTPRequestHandler):
    server: _Registry

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        host = f"http://127.0.0.1:{self.server.server_address[1]}"
        path = self.path.lstrip("/")
        if path.endswith(".tgz") and path in self.server.tarballs:
            body, kind = self.server.tarballs[path], "application/octet-stream"
        else:
            name, _, version = path.replace("%2F", "/").replace("%2f", "/").rpartition("/")
            tgz = f"{name.replace('/', '-')}-{version}.tgz"
            if tgz not in self.server.tarballs:
                self.send_error(404)
                return
            body = json.dumps(
                {"name": name, "version": version, "dist": {"tarball": f"{host}/{tgz}"}}
            ).encode()
            kind = "application/json"
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def registry() -> Iterator[_Registry]:
    server = _Registry(("127.0.0.1", 0), _Handler)
    server.tarballs = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_install_refuses_a_package_that_is_not_the_pinned_one(
    registry: _Registry, tmp_path: Path
) -> None:
    # Every package is there, but react's tarball is not the one pinned (a mirror
    # serving something else, or a tampered file): nothing is installed.
    for (name, version), _ in graphiql.TARBALLS.items():
        files = {a.path: b"tampered" for a in graphiql.ASSETS if a.package == name}
        registry.tarballs[f"{name.replace('/', '-')}-{version}.tgz"] = _tarball(files)
    target = tmp_path / "assets"
    url = f"http://127.0.0.1:{registry.server_address[1]}/"
    out = _cli(["graphiql", "install", "--dir", str(target), "--registry", url])
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"hub: graphiql install: react@18.2.0 from {url}react-18.2.0.tgz does not match "
        "its pinned SHA-512; nothing installed"
    ]
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging folder left behind


def test_install_says_when_the_registry_is_unreachable(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/"
    target = tmp_path / "assets"
    target.mkdir()
    (target / "keep").write_text("x")
    out = _cli(["graphiql", "install", "--dir", str(target), "--registry", dead])
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"hub: graphiql install: cannot fetch react@18.2.0 from {dead}"
    ), out.stderr
    assert (target / "keep").read_text() == "x"  # what was there stays


def test_a_reinstall_replaces_the_assets(assets: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(assets, copy)
    (copy / "stale.js").write_text("old")
    assert graphiql.installed(copy)
    out = _cli(["graphiql", "install", "--dir", str(copy)])
    if out.returncode != 0:
        unavailable(f"npm registry unreachable: {out.stderr}")
    assert graphiql.installed(copy) and not (copy / "stale.js").exists()
