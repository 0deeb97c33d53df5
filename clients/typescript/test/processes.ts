// Starts and stops the real processes the scenario test talks to: the
// mcp-registry binary and the MCP reference server (server-everything).
// Every address is on 127.0.0.1.

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { connect, createServer } from "node:net";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** clients/typescript/, from dist/test/ (compiled) or test/ (sources). */
export const packageDir = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
})();
export const repoRoot = resolve(packageDir, "..", "..");

/** The registry binary: MCP_REGISTRY_BIN (relative to the current directory) or target/debug/mcp-registry. */
export function registryBin(): string {
  const fromEnv = process.env.MCP_REGISTRY_BIN;
  if (fromEnv) return isAbsolute(fromEnv) ? fromEnv : resolve(process.cwd(), fromEnv);
  return join(repoRoot, "target", "debug", "mcp-registry");
}

/** server-everything's dist/index.js from MCP_REGISTRY_TEST_EVERYTHING, when set. */
export function everythingScript(): string | undefined {
  const fromEnv = process.env.MCP_REGISTRY_TEST_EVERYTHING;
  if (!fromEnv) return undefined;
  return isAbsolute(fromEnv) ? fromEnv : resolve(process.cwd(), fromEnv);
}

/** Environment of every registry command (serve and admin) of one test run. */
export function registryEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Keep the developer's own registry settings out of the test.
  for (const name of Object.keys(env)) {
    if (name.startsWith("MCP_REGISTRY_") && !name.startsWith("MCP_REGISTRY_TEST_")) delete env[name];
  }
  return {
    ...env,
    MCP_REGISTRY_DATA_DIR: dataDir,
    MCP_REGISTRY_LOG_FORMAT: "json",
    MCP_REGISTRY_METRICS_LISTEN: "off",
    // The gateway's default port, 8080, may be taken.
    MCP_REGISTRY_MCP_LISTEN: "off",
    MCP_REGISTRY_ALLOW_INSECURE_UPSTREAMS: "true",
    MCP_REGISTRY_ALLOW_PRIVATE_UPSTREAMS: "true",
  };
}

/** Waits for a child to exit; resolves its exit code, or the signal's name. */
function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((res) => child.once("exit", (code, signal) => res(code ?? signal ?? "unknown")));
}

/**
 * Sends SIGTERM and waits for the exit; SIGKILL after `graceMs` so a stuck
 * process never outlives the test. Resolves the exit code or signal name.
 */
export async function stopProcess(child: ChildProcess, graceMs = 30_000): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return exited(child);
  const done = exited(child);
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  try {
    return await done;
  } finally {
    clearTimeout(timer);
  }
}

export interface Registry {
  child: ChildProcess;
  /** `host:port` from the "serving gRPC" log line. */
  addr: string;
  baseUrl: string;
  /** Every stderr line so far (JSON logs), for failure messages. */
  logs: string[];
}

/** Starts `<bin> serve --listen 127.0.0.1:0` and waits for its "serving gRPC" log line. */
export async function startRegistry(bin: string, dataDir: string): Promise<Registry> {
  const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0"], {
    env: registryEnv(dataDir),
    stdio: ["ignore", "ignore", "pipe"],
  });
  const logs: string[] = [];
  const lines = createInterface({ input: child.stderr! });
  const addr = await new Promise<string>((res, rej) => {
    // A hang guard only: the service normally serves within a second.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      rej(new Error(`mcp-registry did not log "serving gRPC" within 120 s:\n${logs.join("\n")}`));
    }, 120_000);
    const onExit = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      rej(new Error(`mcp-registry exited (${code ?? signal}) before serving:\n${logs.join("\n")}`));
    };
    child.once("error", (err) => {
      clearTimeout(timer);
      rej(err);
    });
    child.once("exit", onExit);
    // Keeps reading stderr for the whole run, so the pipe never fills up.
    lines.on("line", (line) => {
      logs.push(line);
      let entry: { message?: unknown; addr?: unknown };
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      if (entry.message === "serving gRPC" && typeof entry.addr === "string") {
        clearTimeout(timer);
        child.off("exit", onExit);
        res(entry.addr);
      }
    });
  });
  return { child, addr, baseUrl: `http://${addr}`, logs };
}

/** Runs `<bin> admin <args...>` with the run's data dir and parses the JSON object it prints. */
export async function registryAdmin(
  bin: string,
  dataDir: string,
  args: string[],
): Promise<Record<string, unknown>> {
  const { stdout } = await execFileAsync(bin, ["admin", ...args], { env: registryEnv(dataDir) });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/** A free TCP port on 127.0.0.1 (bind, read, release). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res, rej) => server.once("error", rej).listen(0, "127.0.0.1", res));
  const address = server.address();
  await new Promise((res) => server.close(res));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      res(true);
    });
    socket.once("error", () => res(false));
  });
}

export interface Everything {
  child: ChildProcess;
  port: number;
  /** The Streamable HTTP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
}

/**
 * Starts server-everything in `mode` (`streamableHttp`) as the Rust tests do:
 * `node --require loopback.cjs <script> <mode>` with PORT set; the preload pins
 * every listen() to 127.0.0.1. Waits until the port accepts connections.
 */
export async function startEverything(script: string, mode = "streamableHttp"): Promise<Everything> {
  const port = await freePort();
  const preload = join(packageDir, "test", "loopback.cjs");
  const child = spawn(process.execPath, ["--require", preload, script, mode], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "ignore", "ignore"],
  });
  for (let attempt = 0; attempt < 300; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server-everything exited (${child.exitCode ?? child.signalCode})`);
    }
    if (await canConnect(port)) return { child, port, url: `http://127.0.0.1:${port}/mcp` };
    await new Promise((res) => setTimeout(res, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`server-everything did not listen on 127.0.0.1:${port}`);
}
