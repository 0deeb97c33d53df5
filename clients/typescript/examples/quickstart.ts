// Quickstart: lists the organization's MCP servers and packs, shows what each
// pack gives an agent, and handles an error by its reason.
//
//   MCP_REGISTRY_URL=http://127.0.0.1:50051 \
//   MCP_REGISTRY_KEY_ID=key_... MCP_REGISTRY_SECRET=mcpr_... \
//   npm run quickstart
//
// The key is an organization's API key (`mcp-registry admin create-key --org
// org_... --role admin` prints one).

import {
  Code,
  ConnectError,
  ServerStatus,
  createRegistryClients,
  errorReason,
  requestId,
} from "../src/index.js";

const baseUrl = process.env.MCP_REGISTRY_URL ?? "http://127.0.0.1:50051";
const keyId = process.env.MCP_REGISTRY_KEY_ID;
const secret = process.env.MCP_REGISTRY_SECRET;
if (!keyId || !secret) {
  console.error("set MCP_REGISTRY_KEY_ID and MCP_REGISTRY_SECRET (an organization's API key)");
  process.exit(2);
}

const registry = createRegistryClients(baseUrl, keyId, secret, { defaultTimeoutMs: 30_000 });
try {
  // Servers: every page, oldest first.
  let pageToken = "";
  do {
    const page = await registry.mcpServers.listMcpServers({ pageSize: 100, pageToken });
    for (const server of page.mcpServers) {
      console.log(
        `server ${server.name} ${server.url} ${ServerStatus[server.status]} tools=${server.toolCount}`,
      );
    }
    pageToken = page.nextPageToken;
  } while (pageToken);

  // Packs, and the tools each one offers an agent now.
  const { packs } = await registry.packs.listPacks({ pageSize: 100 });
  for (const pack of packs) {
    const resolved = await registry.packs.resolvePack({ id: pack.id });
    console.log(
      `pack ${pack.name} v${pack.version}: ${resolved.tools.length} tools, ` +
        `${resolved.excludedTools.length} left out`,
    );
    for (const tool of resolved.tools) console.log(`  ${tool.qualifiedName}`);
  }

  // Errors carry a google.rpc.ErrorInfo whose reason is stable: switch on it.
  try {
    await registry.mcpServers.getMcpServer({ lookup: { case: "name", value: "no-such-server" } });
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.NotFound) {
      console.log(`lookup failed as expected: ${errorReason(err)} (request ${requestId(err)})`);
    } else {
      throw err;
    }
  }
} finally {
  registry.close();
}
