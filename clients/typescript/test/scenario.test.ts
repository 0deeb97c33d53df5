// Scenario test of the TypeScript client against the real mcp-registry binary
// and the real MCP reference server (server-everything), both on 127.0.0.1.
//
//   MCP_REGISTRY_BIN=../../target/debug/mcp-registry \
//   MCP_REGISTRY_TEST_EVERYTHING=<...>/server-everything/dist/index.js npm test
//
// Without server-everything or the binary the test is skipped with a message,
// except with CI=true, where it fails.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import {
  ApprovalPolicy,
  AuthType,
  Code,
  ConnectError,
  ErrorReason,
  ExportTransport,
  ServerStatus,
  SyncEventKind,
  SyncOutcome,
  SyncTrigger,
  ToolApprovalState,
  Transport,
  badRequest,
  createRegistryClients,
  errorReason,
  errorReasonEnum,
  requestId,
  type McpServer,
  type RegistryClients,
  type SyncEvent,
} from "../src/index.js";
import {
  packageDir,
  registryAdmin,
  registryBin,
  everythingScript,
  startEverything,
  startRegistry,
  stopProcess,
  type Everything,
  type Registry,
} from "./processes.js";

const execFileAsync = promisify(execFile);

const ci = process.env.CI === "true" || process.env.CI === "1";
const bin = registryBin();
const script = everythingScript();
const missing = !script
  ? "MCP_REGISTRY_TEST_EVERYTHING is not set (clients/typescript/test.sh or ./scripts/test sets it)"
  : !existsSync(script)
    ? `MCP_REGISTRY_TEST_EVERYTHING=${script} does not exist`
    : !existsSync(bin)
      ? `the registry binary ${bin} does not exist (build it, or set MCP_REGISTRY_BIN)`
      : undefined;

if (missing && ci) {
  test("scenario prerequisites (required with CI=true)", () => {
    assert.fail(missing);
  });
} else if (missing) {
  console.log(`skipping the scenario: ${missing}`);
}

/** Waits (bounded) until `check` returns a value; polls every 100 ms. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let attempt = 0; attempt < 600; attempt++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

// The suite timeout is a hang guard for CI, far above a normal run (seconds).
describe("mcp-registry TypeScript client scenario", { skip: missing ?? false, timeout: 600_000 }, () => {
  let dataDir = "";
  let registry: Registry | undefined;
  let everything: Everything | undefined;
  let clients: RegistryClients;
  let keyId = "";
  let secret = "";
  const token = `tok-${randomBytes(16).toString("hex")}`;
  let everythingServer: McpServer;
  let securedServer: McpServer;
  let securedUrl = "";
  let packId = "";

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "mcp-registry-ts-"));
    registry = await startRegistry(bin, dataDir);
    // The bootstrap CLI, on the same data dir as the running service.
    const org = await registryAdmin(bin, dataDir, ["create-org", "--name", "ts-client", "--plan", "pro"]);
    assert.match(String(org.organization_id), /^org_[0-9a-f]{32}$/);
    const key = await registryAdmin(bin, dataDir, [
      "create-key",
      "--org",
      String(org.organization_id),
      "--role",
      "admin",
      "--display-name",
      "typescript scenario",
    ]);
    keyId = String(key.api_key_id);
    secret = String(key.secret);
    assert.match(keyId, /^key_[0-9a-f]{32}$/);
    assert.equal(key.role, "admin");
    everything = await startEverything(script!, "streamableHttp");
    clients = createRegistryClients(registry.baseUrl, keyId, secret, { defaultTimeoutMs: 60_000 });
  });

  after(async () => {
    // Stops whatever an earlier failure left running; the last test already
    // stopped the registry when everything passed.
    clients?.close();
    if (registry) await stopProcess(registry.child);
    if (everything) await stopProcess(everything.child);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test("an unknown secret is UNAUTHENTICATED", async () => {
    const wrong = createRegistryClients(registry!.baseUrl, keyId, "mcpr_wrong");
    try {
      await assert.rejects(wrong.mcpServers.listMcpServers({}), (err: unknown) => {
        assert.ok(err instanceof ConnectError);
        assert.equal(err.code, Code.Unauthenticated);
        assert.equal(errorReason(err), "UNAUTHENTICATED");
        return true;
      });
    } finally {
      wrong.close();
    }
  });

  /** Waits for the server's first (background) sync to finish and returns the server. */
  async function firstSync(server: McpServer): Promise<McpServer> {
    const settled = await eventually(`the first sync of ${server.name}`, async () => {
      const s = await clients.mcpServers.getMcpServer({ lookup: { case: "id", value: server.id } });
      return s.status === ServerStatus.PENDING || s.status === ServerStatus.SYNCING ? undefined : s;
    });
    assert.equal(
      settled.status,
      ServerStatus.CONNECTED,
      `${server.name}: ${ServerStatus[settled.status]} ${settled.lastError?.message ?? ""}`,
    );
    return settled;
  }

  test("registers server-everything with transport AUTO; its background sync succeeds", async () => {
    const created = await clients.mcpServers.createMcpServer({
      mcpServer: {
        name: "everything",
        displayName: "Everything",
        url: everything!.url,
        transport: Transport.AUTO,
        approvalPolicy: ApprovalPolicy.REQUIRE_NONE,
      },
    });
    assert.match(created.id, /^mcp_[0-9a-f]{32}$/);
    assert.equal(created.transport, Transport.AUTO);
    assert.equal(created.authType, AuthType.NONE);
    assert.equal(created.hasCredentials, false);
    // Creating a server starts its first sync in the background. Waiting for
    // it keeps the manual sync below the only one running.
    everythingServer = await firstSync(created);
    assert.equal(everythingServer.detectedTransport, Transport.STREAMABLE_HTTP);
    assert.ok(everythingServer.toolCount > 0);
    assert.ok(everythingServer.serverInfo?.name, "initialize reported serverInfo");
  });

  test("registers a server with a bearer-token credential", async () => {
    // Same upstream (it ignores the token), its own url and a bearer credential.
    securedUrl = `${everything!.url}?tenant=secured`;
    const created = await clients.mcpServers.createMcpServer({
      mcpServer: {
        name: "secured",
        url: securedUrl,
        transport: Transport.STREAMABLE_HTTP,
        authType: AuthType.BEARER_TOKEN,
        credentials: { kind: { case: "bearerToken", value: { token } } },
      },
    });
    assert.equal(created.authType, AuthType.BEARER_TOKEN);
    assert.equal(created.hasCredentials, true);
    assert.equal(created.credentials, undefined, "credentials are input only");
    securedServer = await firstSync(created);
  });

  test("every sync run so far has finished", async () => {
    const { syncRuns } = await clients.sync.listSyncRuns({ pageSize: 100 });
    assert.ok(syncRuns.length >= 2);
    for (const run of syncRuns) {
      assert.notEqual(run.outcome, SyncOutcome.RUNNING, `run ${run.id} of ${run.serverName} is still RUNNING`);
    }
  });

  test("lists both servers", async () => {
    const list = await clients.mcpServers.listMcpServers({ pageSize: 10 });
    assert.equal(list.totalSize, 2n);
    assert.deepEqual(
      list.mcpServers.map((s) => [s.name, s.url]),
      [
        ["everything", everything!.url],
        ["secured", securedUrl],
      ],
    );
    assert.equal(list.nextPageToken, "");
  });

  test("creates a pack with both servers", async () => {
    const pack = await clients.packs.createPack({
      pack: {
        name: "ts-pack",
        description: "Pack of the TypeScript client scenario",
        servers: [{ serverId: everythingServer.id }, { name: "secured" }],
      },
    });
    packId = pack.id;
    assert.match(pack.id, /^pack_[0-9a-f]{32}$/);
    assert.equal(pack.version, 1n);
    assert.deepEqual(
      pack.servers.map((s) => [s.serverId, s.name]),
      [
        [everythingServer.id, "everything"],
        [securedServer.id, "secured"],
      ],
    );
  });

  test("WatchSyncEvents shows STARTED then SUCCEEDED for a manual SyncMcpServer", async () => {
    const abort = new AbortController();
    const events: SyncEvent[] = [];
    const waiters: Array<() => void> = [];
    let subscribed!: () => void;
    const headers = new Promise<void>((res) => (subscribed = res));
    const stream = clients.sync.watchSyncEvents(
      { serverId: everythingServer.id },
      { signal: abort.signal, timeoutMs: 0, onHeader: () => subscribed() },
    );
    const consumer = (async () => {
      try {
        for await (const event of stream) {
          events.push(event);
          waiters.splice(0).forEach((wake) => wake());
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
    })();
    const streamEnded = consumer.then(() => {
      throw new Error(`WatchSyncEvents ended early after ${events.length} events`);
    });
    try {
      // The service subscribes before it answers the headers: from here on
      // no event of the server can be missed.
      await Promise.race([headers, streamEnded]);

      const run = await clients.sync.syncMcpServer({ id: everythingServer.id });
      assert.match(run.id, /^sync_[0-9a-f]{32}$/);
      assert.equal(run.outcome, SyncOutcome.SUCCEEDED, run.error?.message);
      assert.equal(run.trigger, SyncTrigger.MANUAL);
      assert.equal(run.serverId, everythingServer.id);
      assert.equal(run.transport, Transport.STREAMABLE_HTTP);
      assert.ok((run.tools?.count ?? 0) > 0);

      const finished = (e: SyncEvent) =>
        e.run?.id === run.id &&
        (e.kind === SyncEventKind.SUCCEEDED || e.kind === SyncEventKind.FAILED);
      while (!events.some(finished)) {
        await Promise.race([new Promise<void>((wake) => waiters.push(wake)), streamEnded]);
      }
      const ofRun = events.filter((e) => e.run?.id === run.id);
      assert.deepEqual(
        ofRun.map((e) => SyncEventKind[e.kind]),
        ["STARTED", "SUCCEEDED"],
      );
      assert.ok(ofRun.every((e) => e.serverId === everythingServer.id));
      assert.equal(ofRun[0]!.run!.outcome, SyncOutcome.RUNNING);
      assert.equal(ofRun[1]!.run!.outcome, SyncOutcome.SUCCEEDED);
    } finally {
      abort.abort();
      await consumer.catch(() => undefined);
    }
  });

  test("ListServerTools lists the synced tools", async () => {
    const { tools, totalSize } = await clients.mcpServers.listServerTools({
      serverId: everythingServer.id,
      pageSize: 1000,
    });
    assert.ok(tools.length > 0);
    assert.equal(BigInt(tools.length), totalSize);
    assert.ok(tools.some((t) => t.name === "echo"), "server-everything has an `echo` tool");
    for (const tool of tools) {
      assert.match(tool.definitionHash, /^[0-9a-f]{64}$/);
      assert.equal(tool.approvalState, ToolApprovalState.NOT_REQUIRED);
    }
  });

  test("ResolvePack offers the everything server's tools", async () => {
    const { tools } = await clients.mcpServers.listServerTools({
      serverId: everythingServer.id,
      pageSize: 1000,
    });
    const resolved = await clients.packs.resolvePack({ id: packId });
    assert.equal(resolved.packId, packId);
    assert.equal(resolved.version, 1n);
    const fromEverything = resolved.tools.filter((t) => t.serverId === everythingServer.id);
    assert.deepEqual(
      fromEverything.map((t) => t.name).sort(),
      tools.map((t) => t.name).sort(),
    );
    assert.ok(resolved.tools.some((t) => t.qualifiedName === "everything__echo"));
    assert.ok(
      resolved.excludedTools.every((t) => t.serverId !== everythingServer.id),
      "no tool of the everything server is left out under REQUIRE_NONE",
    );
  });

  test("ExportPack writes mcpServers with placeholders instead of the token", async () => {
    const exported = await clients.packs.exportPack({ id: packId });
    assert.ok(!exported.configJson.includes(token), "the bearer token never appears");
    const config = JSON.parse(exported.configJson) as {
      mcpServers: Record<string, { type: string; url: string; headers?: Record<string, string> }>;
    };
    assert.deepEqual(Object.keys(config.mcpServers), ["everything", "secured"]);
    assert.equal(config.mcpServers.everything!.url, everything!.url);
    assert.equal(config.mcpServers.everything!.type, "http");
    assert.equal(config.mcpServers.everything!.headers, undefined);
    assert.equal(config.mcpServers.secured!.url, securedUrl);
    const authorization = config.mcpServers.secured!.headers?.Authorization ?? "";
    const placeholder = /^Bearer \$\{([A-Z0-9_]+)\}$/.exec(authorization);
    assert.ok(placeholder, `Authorization is a placeholder: ${authorization}`);
    assert.deepEqual(
      exported.placeholders.map((p) => [p.name, p.serverId, p.headerName]),
      [[placeholder[1], securedServer.id, "Authorization"]],
    );
    assert.deepEqual(
      exported.servers.map((s) => [s.key, s.url, s.transport]),
      [
        ["everything", everything!.url, ExportTransport.HTTP],
        ["secured", securedUrl, ExportTransport.HTTP],
      ],
    );
  });

  test("an invalid url is INVALID_ARGUMENT with the reason in ErrorInfo", async () => {
    await assert.rejects(
      clients.mcpServers.createMcpServer({ mcpServer: { name: "broken", url: "not a url" } }),
      (err: unknown) => {
        assert.ok(err instanceof ConnectError, String(err));
        assert.equal(err.code, Code.InvalidArgument);
        assert.equal(errorReason(err), "INVALID_ARGUMENT");
        assert.equal(errorReasonEnum(err), ErrorReason.INVALID_ARGUMENT);
        const fields = badRequest(err)?.fieldViolations.map((v) => v.field) ?? [];
        assert.ok(fields.some((f) => f.endsWith("url")), `violations: ${fields.join(", ")}`);
        assert.ok(requestId(err), "a RequestInfo detail names the request");
        return true;
      },
    );
  });

  test("the quickstart example runs against the service", async () => {
    const { stdout } = await execFileAsync(
      process.execPath,
      [join(packageDir, "dist", "examples", "quickstart.js")],
      {
        env: {
          ...process.env,
          MCP_REGISTRY_URL: registry!.baseUrl,
          MCP_REGISTRY_KEY_ID: keyId,
          MCP_REGISTRY_SECRET: secret,
        },
      },
    );
    assert.match(stdout, /^server everything /m);
    assert.match(stdout, /^pack ts-pack v1: /m);
    assert.match(stdout, /^ {2}everything__echo$/m);
    assert.match(stdout, /lookup failed as expected: NOT_FOUND/);
  });

  test("the registry exits 0 on SIGTERM", async () => {
    clients.close();
    const code = await stopProcess(registry!.child);
    assert.equal(code, 0, registry!.logs.slice(-20).join("\n"));
  });
});
