"""Scenario test of the Python client against the real service.

Starts the mcp-registry binary (``MCP_REGISTRY_BIN``, default
``target/debug/mcp-registry``; a relative path is taken from the repository
root) on a fresh SQLite data directory and the MCP reference server
(server-everything, ``MCP_REGISTRY_TEST_EVERYTHING``) in streamableHttp mode,
both on 127.0.0.1, bootstraps an organization and an ADMIN key with the
binary's ``admin`` CLI, and then drives every service through
``mcp_registry_client``: servers with and without credentials, pagination, a
pack, a sync watched live, the tools it stored, ResolvePack, ExportPack and
the rich error details.

Without the binary or server-everything the tests are skipped, or fail when
``CI=true``. Run them with ``clients/python/test.sh``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import grpc
import pytest

from mcp_registry_client import (
    Client,
    connect,
    error_details,
    error_info,
    field_violations,
    mcp_server_pb2,
    pack_pb2,
    sync_pb2,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
CI = os.environ.get("CI", "") in ("true", "1")
# Upper bounds that only keep a broken run from hanging; nothing asserts on time.
STARTUP_LIMIT = 60.0
CALL_TIMEOUT = 30.0
SYNC_TIMEOUT = 90.0
WATCH_LIMIT = 300.0


def unavailable(message: str) -> None:
    """Skips the test, or fails it when CI=true requires every test to run."""
    if CI:
        pytest.fail(f"{message} (required when CI=true)", pytrace=False)
    pytest.skip(message)


def step(message: str) -> None:
    print(f"  - {message}", flush=True)


@pytest.fixture(autouse=True)
def _newline() -> None:
    # Starts each test's steps on a line of their own under `pytest -v -s`.
    print(flush=True)


def repo_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else REPO_ROOT / path


def child_env(data_dir: Path) -> dict[str, str]:
    """The environment of the binary: none of the caller's MCP_REGISTRY_*
    settings (a database URL or master keys there must not leak in), plus the
    test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_REGISTRY_")}
    env.update(
        MCP_REGISTRY_DATA_DIR=str(data_dir),
        MCP_REGISTRY_LOG_FORMAT="json",
        MCP_REGISTRY_METRICS_LISTEN="off",
        # The gateway's default port, 8080, may be taken.
        MCP_REGISTRY_MCP_LISTEN="off",
        MCP_REGISTRY_ALLOW_INSECURE_UPSTREAMS="true",
        MCP_REGISTRY_ALLOW_PRIVATE_UPSTREAMS="true",
    )
    return env


@dataclass
class Registry:
    binary: Path
    data_dir: Path
    process: subprocess.Popen
    addr: str = ""
    log: list[str] = field(default_factory=list)

    def cli(self, *args: str) -> dict:
        """Runs ``<bin> admin ...`` on the same data directory; returns its JSON."""
        result = subprocess.run(
            [str(self.binary), "admin", *args],
            env=child_env(self.data_dir),
            capture_output=True,
            text=True,
            timeout=STARTUP_LIMIT,
            check=False,
        )
        assert result.returncode == 0, f"admin {' '.join(args)} failed:\n{result.stderr}"
        return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def registry(request: pytest.FixtureRequest) -> Iterator[Registry]:
    binary = repo_path(os.environ.get("MCP_REGISTRY_BIN", "target/debug/mcp-registry"))
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        unavailable(f"no mcp-registry binary at {binary} (build it, or set MCP_REGISTRY_BIN)")
    data_dir = Path(tempfile.mkdtemp(prefix="mcp-registry-pyclient-"))
    process = subprocess.Popen(
        [str(binary), "serve", "--listen", "127.0.0.1:0"],
        env=child_env(data_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    reg = Registry(binary=binary, data_dir=data_dir, process=process)
    serving = threading.Event()

    def read_log() -> None:
        # Drains stderr for the whole run (a full pipe would block the
        # service) and finds the `serving gRPC` line with the bound address.
        assert process.stderr is not None
        for line in process.stderr:
            reg.log.append(line.rstrip("\n"))
            if serving.is_set():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message") == "serving gRPC":
                fields = record.get("fields", {})
                reg.addr = record.get("addr") or fields.get("addr", "")
                serving.set()

    reader = threading.Thread(target=read_log, name="registry-log", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while not serving.wait(0.1):
            if process.poll() is not None:
                pytest.fail(f"mcp-registry serve exited with {process.returncode}:\n" + "\n".join(reg.log))
            if time.monotonic() > deadline:
                pytest.fail("mcp-registry logged no `serving gRPC` line:\n" + "\n".join(reg.log))
        assert re.fullmatch(r"127\.0\.0\.1:\d+", reg.addr), f"unexpected listen address {reg.addr!r}"
        print(f"\nmcp-registry {binary} serving on {reg.addr}, data in {data_dir}", flush=True)
        yield reg
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=STARTUP_LIMIT)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        reader.join(timeout=10)
        if request.session.testsfailed or code != 0:
            print("\n--- mcp-registry log (last 60 lines) ---\n" + "\n".join(reg.log[-60:]), flush=True)
            print(f"--- data directory kept: {data_dir}", flush=True)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
        assert code == 0, f"mcp-registry exited with {code} after SIGTERM"


@dataclass
class Everything:
    url: str
    process: subprocess.Popen


@pytest.fixture(scope="module")
def everything() -> Iterator[Everything]:
    script = os.environ.get("MCP_REGISTRY_TEST_EVERYTHING", "")
    if not script or not Path(script).is_file():
        unavailable(
            "MCP_REGISTRY_TEST_EVERYTHING does not name server-everything's dist/index.js "
            "(clients/python/test.sh and scripts/test set it)"
        )
    preload = REPO_ROOT / "tests" / "fixtures" / "loopback.cjs"
    assert preload.is_file(), f"missing {preload}"
    # A free port: bind, read, release (the server binds it right after).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The preload pins every listen() to 127.0.0.1 (server-everything has no host option).
    process = subprocess.Popen(
        ["node", "--require", str(preload), script, "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"server-everything exited with {process.returncode}")
                if time.monotonic() > deadline:
                    pytest.fail(f"server-everything did not listen on 127.0.0.1:{port}")
                time.sleep(0.1)
        print(f"server-everything on 127.0.0.1:{port}", flush=True)
        yield Everything(url=f"http://127.0.0.1:{port}/mcp", process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class ApiKey:
    organization_id: str
    key_id: str
    secret: str


@pytest.fixture(scope="module")
def api_key(registry: Registry) -> ApiKey:
    # The CLI writes the same SQLite file while `serve` runs on it.
    org = registry.cli("create-org", "--name", "python-client", "--plan", "pro")
    assert re.fullmatch(r"org_[0-9a-f]{32}", org["organization_id"]), org
    key = registry.cli(
        "create-key", "--org", org["organization_id"], "--role", "admin", "--display-name", "python-client-test"
    )
    assert key["organization_id"] == org["organization_id"] and key["role"] == "admin", key
    assert key["secret"], key
    return ApiKey(org["organization_id"], key["api_key_id"], key["secret"])


@pytest.fixture(scope="module")
def client(registry: Registry, api_key: ApiKey) -> Iterator[Client]:
    with connect(registry.addr, api_key.key_id, api_key.secret) as c:
        yield c


class EventCollector:
    """Collects the events of a WatchSyncEvents stream in a thread."""

    def __init__(self, client: Client, server_id: str = "") -> None:
        self.events: list[sync_pb2.SyncEvent] = []
        self.error: Optional[grpc.RpcError] = None
        self.done = False
        self._cond = threading.Condition()
        # The deadline only keeps a broken run from hanging.
        self._call = client.sync.WatchSyncEvents(
            sync_pb2.WatchSyncEventsRequest(server_id=server_id), timeout=WATCH_LIMIT
        )
        # The response headers come once the service has subscribed: every
        # sync from now on is seen.
        self._call.initial_metadata()
        self._thread = threading.Thread(target=self._run, name="watch-sync-events", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._call:
                with self._cond:
                    self.events.append(event)
                    self._cond.notify_all()
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                self.error = e
        finally:
            with self._cond:
                self.done = True
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[sync_pb2.SyncEvent]], bool], timeout: float) -> bool:
        """Waits until ``predicate(events)`` holds; False if the stream ended or time ran out first."""
        with self._cond:
            self._cond.wait_for(lambda: predicate(self.events) or self.done, timeout)
            return predicate(self.events)

    def close(self) -> None:
        self._call.cancel()
        self._thread.join(timeout=10)


def all_tools(client: Client, server_id: str) -> list[mcp_server_pb2.Tool]:
    tools: list[mcp_server_pb2.Tool] = []
    request = mcp_server_pb2.ListServerToolsRequest(server_id=server_id, page_size=1000)
    while True:
        page = client.servers.ListServerTools(request, timeout=CALL_TIMEOUT)
        tools.extend(page.tools)
        if not page.next_page_token:
            assert len(tools) == page.total_size
            return tools
        request.page_token = page.next_page_token


def test_scenario(client: Client, everything: Everything) -> None:
    token = "tok_" + secrets.token_hex(16)
    watch = EventCollector(client)
    try:
        step("CreateMcpServer: everything (transport AUTO, no credentials)")
        plain = client.servers.CreateMcpServer(
            mcp_server_pb2.CreateMcpServerRequest(
                mcp_server=mcp_server_pb2.McpServer(
                    name="everything",
                    display_name="Everything",
                    url=everything.url,
                    transport=mcp_server_pb2.TRANSPORT_AUTO,
                    approval_policy=mcp_server_pb2.APPROVAL_POLICY_REQUIRE_NONE,
                )
            ),
            timeout=CALL_TIMEOUT,
        )
        assert re.fullmatch(r"mcp_[0-9a-f]{32}", plain.id), plain.id
        assert plain.auth_type == mcp_server_pb2.AUTH_TYPE_NONE
        assert plain.transport == mcp_server_pb2.TRANSPORT_AUTO
        assert plain.visibility == mcp_server_pb2.VISIBILITY_PRIVATE
        assert not plain.has_credentials

        step("CreateMcpServer: everything-bearer (bearer token credential)")
        bearer = client.servers.CreateMcpServer(
            mcp_server_pb2.CreateMcpServerRequest(
                mcp_server=mcp_server_pb2.McpServer(
                    name="everything-bearer",
                    url=everything.url,
                    transport=mcp_server_pb2.TRANSPORT_STREAMABLE_HTTP,
                    credentials=mcp_server_pb2.Credentials(
                        bearer_token=mcp_server_pb2.BearerTokenCredentials(token=token)
                    ),
                )
            ),
            timeout=CALL_TIMEOUT,
        )
        # auth_type is inferred from the credentials, which are never returned.
        assert bearer.auth_type == mcp_server_pb2.AUTH_TYPE_BEARER_TOKEN
        assert bearer.has_credentials and bearer.HasField("credentials_updated_at")
        assert not bearer.HasField("credentials")
        assert token.encode() not in bearer.SerializeToString()

        step("ListMcpServers with page_size 1: two pages, oldest first")
        names, tokens = [], []
        request = mcp_server_pb2.ListMcpServersRequest(page_size=1)
        while True:
            page = client.servers.ListMcpServers(request, timeout=CALL_TIMEOUT)
            assert page.total_size == 2
            assert len(page.mcp_servers) == 1
            names.extend(s.name for s in page.mcp_servers)
            tokens.append(page.next_page_token)
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        assert names == ["everything", "everything-bearer"]
        assert tokens[0] and tokens[-1] == "" and len(tokens) == 2

        step("CreatePack with both servers (by id and by name)")
        pack = client.packs.CreatePack(
            pack_pb2.CreatePackRequest(
                pack=pack_pb2.Pack(
                    name="agents",
                    description="Tools of the reference server",
                    servers=[
                        pack_pb2.PackServer(server_id=plain.id),
                        pack_pb2.PackServer(name="everything-bearer"),
                    ],
                )
            ),
            timeout=CALL_TIMEOUT,
        )
        assert pack.version == 1
        assert [(m.server_id, m.name) for m in pack.servers] == [
            (plain.id, "everything"),
            (bearer.id, "everything-bearer"),
        ]

        step("SyncMcpServer(everything) while WatchSyncEvents runs")
        run = client.sync.SyncMcpServer(sync_pb2.SyncMcpServerRequest(id=plain.id), timeout=SYNC_TIMEOUT)
        assert run.outcome == sync_pb2.SYNC_OUTCOME_SUCCEEDED, run
        assert run.server_id == plain.id and run.server_name == "everything"
        assert run.transport == mcp_server_pb2.TRANSPORT_STREAMABLE_HTTP
        assert run.protocol_version
        assert run.tools.outcome == sync_pb2.CAPABILITY_OUTCOME_OK
        assert run.tools.count > 0
        assert not run.HasField("error")

        def kinds_of(events: list[sync_pb2.SyncEvent]) -> list[int]:
            return [e.kind for e in events if e.server_id == plain.id and e.run.id == run.id]

        assert watch.wait_for(lambda ev: sync_pb2.SYNC_EVENT_KIND_SUCCEEDED in kinds_of(ev), SYNC_TIMEOUT), (
            f"no SUCCEEDED event for run {run.id}; stream error {watch.error}; events {watch.events}"
        )
        kinds = kinds_of(watch.events)
        assert kinds == [sync_pb2.SYNC_EVENT_KIND_STARTED, sync_pb2.SYNC_EVENT_KIND_SUCCEEDED], kinds
        started, succeeded = [e for e in watch.events if e.run.id == run.id]
        assert started.run.outcome == sync_pb2.SYNC_OUTCOME_RUNNING
        assert succeeded.run.outcome == sync_pb2.SYNC_OUTCOME_SUCCEEDED
        assert succeeded.run.tools.count == run.tools.count
        assert watch.error is None, watch.error
        step(f"run {run.id}: {run.tools.count} tools; events {[sync_pb2.SyncEventKind.Name(k) for k in kinds]}")

        step("ListServerTools(everything) equals the run's tool count")
        tools = all_tools(client, plain.id)
        assert tools, "no tools stored"
        assert len(tools) == run.tools.count
        assert [t.name for t in tools] == sorted(t.name for t in tools)
        for tool in tools:
            assert re.fullmatch(r"[0-9a-f]{64}", tool.definition_hash), tool.name
            assert tool.approval_state == mcp_server_pb2.TOOL_APPROVAL_STATE_NOT_REQUIRED, tool.name
        server = client.servers.GetMcpServer(mcp_server_pb2.GetMcpServerRequest(id=plain.id), timeout=CALL_TIMEOUT)
        assert server.status == mcp_server_pb2.SERVER_STATUS_CONNECTED
        assert server.detected_transport == mcp_server_pb2.TRANSPORT_STREAMABLE_HTTP
        assert server.tool_count == len(tools)
        assert list(server.pack_ids) == [pack.id]

        step("SyncMcpServer(everything-bearer): the stored token decrypts and is sent")
        bearer_run = client.sync.SyncMcpServer(sync_pb2.SyncMcpServerRequest(id=bearer.id), timeout=SYNC_TIMEOUT)
        assert bearer_run.outcome == sync_pb2.SYNC_OUTCOME_SUCCEEDED, bearer_run
        assert bearer_run.tools.count == len(tools)

        step("ResolvePack offers every tool of both members")
        resolved = client.packs.ResolvePack(pack_pb2.ResolvePackRequest(id=pack.id), timeout=CALL_TIMEOUT)
        assert resolved.pack_id == pack.id and resolved.version == 1
        tool_names = sorted(t.name for t in tools)
        by_server = {
            sid: sorted(t.name for t in resolved.tools if t.server_id == sid) for sid in (plain.id, bearer.id)
        }
        assert by_server[plain.id] == tool_names
        assert by_server[bearer.id] == tool_names
        assert list(resolved.excluded_tools) == []
        for t in resolved.tools:
            prefix = "everything__" if t.server_id == plain.id else "everything-bearer__"
            assert t.qualified_name == prefix + t.name
        hashes = {t.name: t.definition_hash for t in tools}
        assert all(t.definition_hash == hashes[t.name] for t in resolved.tools if t.server_id == plain.id)

        step("ExportPack: both urls, a ${...} placeholder instead of the token")
        export = client.packs.ExportPack(pack_pb2.ExportPackRequest(id=pack.id), timeout=CALL_TIMEOUT)
        assert token not in export.config_json
        assert token.encode() not in export.SerializeToString()
        config = json.loads(export.config_json)
        entries = config["mcpServers"]
        assert list(entries) == ["everything", "everything-bearer"]
        assert entries["everything"] == {"type": "http", "url": everything.url}
        assert entries["everything-bearer"]["type"] == "http"
        assert entries["everything-bearer"]["url"] == everything.url
        authorization = entries["everything-bearer"]["headers"]["Authorization"]
        placeholder = re.fullmatch(r"Bearer \$\{([A-Z0-9_]+)\}", authorization)
        assert placeholder, authorization
        assert [(p.name, p.server_id, p.header_name) for p in export.placeholders] == [
            (placeholder.group(1), bearer.id, "Authorization")
        ]
        assert [(s.key, s.server_id, s.url) for s in export.servers] == [
            ("everything", plain.id, everything.url),
            ("everything-bearer", bearer.id, everything.url),
        ]
        step(f"export uses ${{{placeholder.group(1)}}}")
    finally:
        watch.close()


def test_invalid_url_is_invalid_argument_with_details(client: Client) -> None:
    step("CreateMcpServer with an invalid url")
    with pytest.raises(grpc.RpcError) as raised:
        client.servers.CreateMcpServer(
            mcp_server_pb2.CreateMcpServerRequest(mcp_server=mcp_server_pb2.McpServer(name="broken", url="not a url")),
            timeout=CALL_TIMEOUT,
        )
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    reason, metadata = error_info(error)
    assert reason == "INVALID_ARGUMENT"
    assert isinstance(metadata, dict)
    violations = field_violations(error)
    assert [f for f, _ in violations] == ["mcp_server.url"], violations
    details = error_details(error)
    assert details.domain == "mcpregistry"
    assert details.request_id.startswith("req_"), details
    step(f"INVALID_ARGUMENT {violations[0][0]}: {violations[0][1]}")


def test_wrong_secret_is_unauthenticated(registry: Registry, api_key: ApiKey) -> None:
    step("a call with a wrong secret")
    with connect(registry.addr, api_key.key_id, "mcpr_wrong") as bad:
        with pytest.raises(grpc.RpcError) as raised:
            bad.servers.ListMcpServers(mcp_server_pb2.ListMcpServersRequest(), timeout=CALL_TIMEOUT)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_info(raised.value)[0] == "UNAUTHENTICATED"


def test_quickstart_example(registry: Registry, api_key: ApiKey, client: Client) -> None:
    step("examples/quickstart.py against the same service")
    listed = client.servers.ListMcpServers(mcp_server_pb2.ListMcpServersRequest(), timeout=CALL_TIMEOUT)
    example = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
    result = subprocess.run(
        [sys.executable, str(example)],
        env={
            **os.environ,
            "MCP_REGISTRY_TARGET": registry.addr,
            "MCP_REGISTRY_KEY_ID": api_key.key_id,
            "MCP_REGISTRY_SECRET": api_key.secret,
        },
        capture_output=True,
        text=True,
        timeout=STARTUP_LIMIT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for server in listed.mcp_servers:
        assert f"server {server.name}: {server.url}" in result.stdout, result.stdout
    assert api_key.secret not in result.stdout + result.stderr
