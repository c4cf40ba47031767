"""GraphiQL on ``GET /graphql``: its page, and its scripts served by the hub itself.

The page needs React, ReactDOM, GraphiQL and GraphiQL's explorer plugin. By default
the browser loads them from a public CDN (unpkg.com); ``hub graphiql install`` fetches
the same pinned packages from the npm registry (each tarball checked against its pinned
SHA-512, each file against its pinned SHA-384) into ``HUB_GRAPHIQL_ASSETS_DIR`` (by
default ``static/graphiql`` inside the installed ``hub`` package), and from then on the
page loads them from the hub at ``/graphiql/...`` and nothing from elsewhere: GraphiQL
works on a machine without internet access. The Docker image installs them at build
time. Either way the page carries the files' SRI hashes, so the browser refuses a file
that differs from the pinned one.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

if TYPE_CHECKING:
    import httpx

CDN = "https://unpkg.com/"
DEFAULT_REGISTRY = "https://registry.npmjs.org/"
MANIFEST = "graphiql-assets.json"
PAGE = Path(__file__).with_name("static") / "graphiql.html"
PACKAGE_DIR = Path(__file__).with_name("static") / "graphiql"


@dataclass(frozen=True, slots=True)
class Asset:
    package: str
    version: str
    path: str  # inside the package
    sri: str  # sha384 of the file, as in the page's integrity attribute

    @property
    def location(self) -> str:
        """Where it lives, below the CDN or the local folder."""
        return f"{self.package}@{self.version}/{self.path}"


# Pinned: the version, the tarball's integrity (as the npm registry publishes it) and
# the files the page loads. GraphiQL 3.8 is the last line that ships a UMD bundle.
TARBALLS = {
    ("react", "18.2.0"): "sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU"
    "/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==",
    ("react-dom", "18.2.0"): "sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk81n4YFS+r/Kl99"
    "wXiwlVXtPBtJenozv2P+hxDsw9eA7Xo6g==",
    ("graphiql", "3.8.3"): "sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T"
    "30RzxhuLSWo9zUbzq0P3U49//H0Ugw==",
    ("@graphiql/plugin-explorer", "1.0.2"): "sha512-9j+kg2UjtLZD5EBmGjeWHkoVVxtbShYg2DzbUVeb"
    "ibnZYZM/iMBEF4vaccXJIAm5KaomIPLx0aoNs4LbODyc3Q==",
}
SCRIPTS = (
    Asset(
        "react",
        "18.2.0",
        "umd/react.production.min.js",
        "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
    ),
    Asset(
        "react-dom",
        "18.2.0",
        "umd/react-dom.production.min.js",
        "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
    ),
    Asset(
        "graphiql",
        "3.8.3",
        "graphiql.min.js",
        "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    ),
    Asset(
        "@graphiql/plugin-explorer",
        "1.0.2",
        "dist/index.umd.js",
        "sha384-2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9",
    ),
)
STYLES = (
    Asset(
        "graphiql",
        "3.8.3",
        "graphiql.min.css",
        "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    ),
    Asset(
        "@graphiql/plugin-explorer",
        "1.0.2",
        "dist/style.css",
        "sha384-5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi",
    ),
)
ASSETS = STYLES + SCRIPTS


class InstallError(Exception):
    """``hub graphiql install`` could not fetch or check a package (one line)."""


def assets_dir(configured: Path | None) -> Path:
    return configured if configured is not None else PACKAGE_DIR


def installed(folder: Path) -> bool:
    """Whether ``folder`` holds this hub's pinned assets (its manifest names them)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("assets") == {a.location: a.sri for a in ASSETS} and all(
        (folder / a.location).is_file() for a in ASSETS
    )


# --------------------------------------------------------------------------- the page


def render_page(base: str) -> str:
    """The GraphiQL page, loading its assets below ``base`` (the CDN or ``/graphiql/``)."""

    def url(a: Asset) -> str:
        return html.escape(base + a.location)

    styles = "\n".join(
        f'    <link rel="stylesheet" href="{url(a)}" integrity="{a.sri}" crossorigin>'
        for a in STYLES
    )
    scripts = "\n".join(
        f'    <script src="{url(a)}" integrity="{a.sri}" crossorigin></script>' for a in SCRIPTS
    )
    return PAGE.read_text().replace("<!-- styles -->", styles).replace("<!-- scripts -->", scripts)


class PageCache:
    """The page as served: from the hub when the assets are installed, else from the
    CDN. Rendered once per mode; the folder is looked at again every request (a stat
    of one file), so installing the assets needs no restart."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._pages: dict[str, str] = {}

    def page(self, root_path: str = "") -> str:
        base = f"{root_path}/graphiql/" if installed(self.folder) else CDN
        page = self._pages.get(base)
        if page is None:
            page = self._pages[base] = render_page(base)
        return page


class AssetFiles(StaticFiles):
    """The installed assets; their paths carry their versions, so browsers keep them."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


# --------------------------------------------------------------------------- install


def default_registry() -> str:
    """npm's own variable for a registry mirror, else the public npm registry."""
    return os.environ.get("npm_config_registry") or os.environ.get(
        "NPM_CONFIG_REGISTRY", DEFAULT_REGISTRY
    )


def _digest(algorithm: str, data: bytes) -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def _fetch(client: httpx.Client, registry: str, name: str, version: str) -> bytes:
    import httpx

    meta_url = registry.rstrip("/") + "/" + quote(name, safe="@") + "/" + version
    try:
        meta = client.get(meta_url)
        if meta.status_code != 200:
            raise InstallError(f"{meta_url} answered HTTP {meta.status_code}")
        tarball = meta.json()["dist"]["tarball"]
        got = client.get(tarball)
        if got.status_code != 200:
            raise InstallError(f"{tarball} answered HTTP {got.status_code}")
    except httpx.HTTPError as exc:
        raise InstallError(f"cannot fetch {name}@{version} from {registry}: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise InstallError(f"{meta_url} is not npm package metadata") from exc
    want = TARBALLS[(name, version)]
    if _digest("sha512", got.content) != want:
        raise InstallError(
            f"{name}@{version} from {tarball} does not match its pinned SHA-512; nothing installed"
        )
    return got.content


def install(target: Path, registry: str | None = None, timeout: float = 60.0) -> list[str]:
    """Fetch the pinned packages and put the page's files into ``target`` (replacing
    what was there only once every file is fetched and checked); the files written."""
    import httpx

    registry = registry or default_registry()
    target = target.expanduser().absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".graphiql-", dir=target.parent))
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            for (name, version), _ in TARBALLS.items():
                data = _fetch(client, registry, name, version)
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                    for asset in (a for a in ASSETS if (a.package, a.version) == (name, version)):
                        member = tar.extractfile(f"package/{asset.path}")
                        body = member.read() if member else b""
                        if _digest("sha384", body) != asset.sri:
                            raise InstallError(
                                f"{asset.location} does not match its pinned SHA-384"
                            )
                        out = staging / asset.location
                        out.parent.mkdir(parents=True, exist_ok=True)
                        out.write_bytes(body)
        (staging / MANIFEST).write_text(
            json.dumps(
                {"registry": registry, "assets": {a.location: a.sri for a in ASSETS}}, indent=2
            )
        )
        staging.chmod(0o755)
        if target.exists():
            old = target.with_name(f".{target.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [a.location for a in ASSETS]
