"""The README runs: its fenced ``sh`` blocks, in order, against ``hub serve --demo``.

A newcomer's path: an empty folder, ``hub serve --demo`` there (SQLite, ``./hub.db``),
and the README's examples in a second shell in the same folder with ``HUB`` set to the
hub's address. Every block runs in one bash (so ``TOKEN``, ``CART`` and ``gql`` carry
over) with ``set -eo pipefail``; a block must exit 0, and every GraphQL answer it
prints must have no ``errors`` and no ``userErrors``. HTML comments just above a
block adjust that (see the README's "Tests and benchmarks"):

- ``<!-- readme: skip (why) -->``: not run (installs, another server, Docker);
- ``<!-- readme: expect TEXT -->``: TEXT must be in the block's output;
- ``<!-- readme: allow CODE -->``: its answers may carry userErrors with that code;
- ``<!-- readme: background until TEXT -->``: started in the background, the next
  block runs once it printed TEXT, and it must have exited 0 after that block.

Other parts of the README change with the code; this test is what keeps them true.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.documents import json_objects
from tests.helpers.processes import Process, free_port, wait_ready

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*readme:\s*(.*?)\s*-->")


@dataclass
class Block:
    number: int
    line: int
    code: str
    skip: str | None = None
    expect: list[str] = field(default_factory=list)
    allow: set[str] = field(default_factory=set)
    background_until: str | None = None


def _unquote(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def blocks(text: str) -> list[Block]:
    """The README's ``sh`` blocks with the markers on the lines just above each."""
    found: list[Block] = []
    for m in FENCE.finditer(text):
        if m.group(1) not in ("sh", "bash", "shell"):
            continue
        line = text.count("\n", 0, m.start()) + 1
        block = Block(len(found) + 1, line, m.group(2))
        above = text[: m.start()].rstrip("\n").split("\n")
        while above and MARKER.fullmatch(above[-1].strip()):
            spec = MARKER.fullmatch(above.pop().strip()).group(1)  # type: ignore[union-attr]
            verb, _, arg = spec.partition(" ")
            if verb == "skip":
                block.skip = arg.strip("() ") or "marked skip"
            elif verb == "expect":
                block.expect.append(_unquote(arg))
            elif verb == "allow":
                block.allow.update(arg.split())
            elif verb == "background":
                until = arg.partition("until")[2]
                block.background_until = _unquote(until) or None
            else:
                raise AssertionError(f"README line {line}: unknown marker {spec!r}")
        found.append(block)
    return found


def test_the_readme_marks_what_it_skips() -> None:
    found = blocks(README.read_text())
    skipped = {b.number: b.skip for b in found if b.skip}
    assert found and len(skipped) < len(found)
    # The install and test commands, the PostgreSQL and Docker ones: nothing else.
    for b in found:
        if b.skip is None:
            assert "pip install" not in b.code and "docker compose" not in b.code, b.line
            assert "localhost:8000" not in b.code and "127.0.0.1:8000/" not in b.code, (
                f"README line {b.line}: use $HUB, not a fixed port"
            )


def _answers(output: str) -> list[dict]:
    """The GraphQL answers (JSON objects with data or errors) in a block's output."""
    return [
        value
        for value in json_objects(output)
        if isinstance(value, dict) and ({"data", "errors"} & set(value))
    ]


def _user_errors(value: object) -> list[dict]:
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if k == "userErrors" and isinstance(v, list):
                out.extend(v)
            else:
                out.extend(_user_errors(v))
        return out
    if isinstance(value, list):
        return [e for v in value for e in _user_errors(v)]
    return []


def _script(run: list[Block], folder: Path) -> str:
    """One bash script: each block between markers, background blocks in a subshell."""
    lines = ["set -eo pipefail"]
    pending_bg: Block | None = None
    for b in run:
        path = folder / f"block-{b.number}.sh"
        path.write_text(b.code)
        lines.append(f"echo '::start {b.number}'")
        if b.background_until is not None:
            log = folder / f"block-{b.number}.log"
            lines += [
                f"( . {shlex.quote(str(path))} ) > {shlex.quote(str(log))} 2>&1 &",
                f"BG_{b.number}=$!",
                "for _ in $(seq 1 300); do",
                f"  grep -qF {shlex.quote(b.background_until)} {shlex.quote(str(log))} && break",
                f'  kill -0 "$BG_{b.number}" 2>/dev/null || break',
                "  sleep 0.1",
                "done",
                f"grep -qF {shlex.quote(b.background_until)} {shlex.quote(str(log))}",
                "sleep 1",  # the subscription is registered once its message is read
            ]
            pending_bg = b
        else:
            lines.append(f". {shlex.quote(str(path))}")
            if pending_bg is not None:
                n = pending_bg.number
                lines += [
                    "for _ in $(seq 1 200); do",
                    f'  kill -0 "$BG_{n}" 2>/dev/null || break; sleep 0.1',
                    "done",
                    f'wait "$BG_{n}"',
                ]
                pending_bg = None
        lines.append(f"echo; echo '::end {b.number}'")
    return "\n".join(lines) + "\n"


def test_the_readme_runs(tmp_path: Path) -> None:
    found = blocks(README.read_text())
    run = [b for b in found if b.skip is None]
    print(
        f"\nREADME: running {len(run)} sh blocks (lines {[b.line for b in run]}), "
        f"skipping {len(found) - len(run)} "
        f"({', '.join(f'line {b.line}: {b.skip}' for b in found if b.skip)})"
    )
    folder = tmp_path / "newcomer"
    folder.mkdir()
    bindir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(Path(bindir).parent)
    port = free_port()
    serve_env = {**env, "HUB_LOG_LEVEL": "WARNING"}
    hub = Process(
        subprocess.Popen(
            [str(Path(bindir) / "hub"), "serve", "--demo", "--port", str(port)],
            cwd=folder,
            env=serve_env,
            stdout=(tmp_path / "serve.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        tmp_path / "serve.log",
        f"http://127.0.0.1:{port}",
    )
    try:
        wait_ready([hub], timeout=180)
        script = tmp_path / "readme.sh"
        script.write_text(_script(run, tmp_path))
        out = subprocess.run(
            ["bash", str(script)],
            cwd=folder,
            env={**env, "HUB": hub.url},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        hub.stop()
    output = out.stdout + out.stderr
    (tmp_path / "readme.out").write_text(output)
    print(f"README run's output: {tmp_path / 'readme.out'}")
    sections = dict(
        (int(m.group(1)), m.group(2))
        for m in re.finditer(r"::start (\d+)\n(.*?)::end \1\n", out.stdout, re.S)
    )
    for b in run:
        where = f"README line {b.line} (block {b.number})"
        if b.number not in sections:
            pytest.fail(f"{where} failed (exit {out.returncode}):\n{b.code}\n---\n{output[-3000:]}")
        text = sections[b.number]
        if b.background_until is not None:
            text += (tmp_path / f"block-{b.number}.log").read_text()
        for want in b.expect:
            assert want in text, f"{where}: {want!r} not in its output:\n{text[-2000:]}"
        for answer in _answers(text):
            assert "errors" not in answer, f"{where}: {answer}"
            for err in _user_errors(answer):
                assert err.get("code") in b.allow, f"{where}: userError {err}"
    assert out.returncode == 0, output[-3000:]
