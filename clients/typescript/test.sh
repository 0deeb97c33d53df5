#!/usr/bin/env bash
# Tests the TypeScript client (clients/typescript/), from anywhere:
#
#   MCP_REGISTRY_BIN=target/debug/mcp-registry \
#   MCP_REGISTRY_TEST_EVERYTHING=.deps/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js \
#   clients/typescript/test.sh
#
# 1. `npm ci`, skipped while node_modules/ was installed from the same
#    package.json and package-lock.json;
# 2. the drift check: src/gen/ must be what buf generates from proto/ now;
# 3. the type check (tsc --noEmit);
# 4. the scenario test (`npm test`) against the real registry binary
#    (MCP_REGISTRY_BIN, default target/debug/mcp-registry) and the MCP
#    reference server (MCP_REGISTRY_TEST_EVERYTHING; when unset, the copy that
#    ./scripts/test installs into .deps/npm/ is used if it is there). Without
#    them the scenario is skipped with a message, except with CI=true, where
#    it fails.
# Relative paths in both variables are taken from the current directory.
set -euo pipefail

abs() { if [[ "$1" == /* ]]; then echo "$1"; else echo "$PWD/$1"; fi; }
[[ -n "${MCP_REGISTRY_BIN:-}" ]] && export MCP_REGISTRY_BIN="$(abs "$MCP_REGISTRY_BIN")"
[[ -n "${MCP_REGISTRY_TEST_EVERYTHING:-}" ]] && export MCP_REGISTRY_TEST_EVERYTHING="$(abs "$MCP_REGISTRY_TEST_EVERYTHING")"

cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
if [[ -z "${MCP_REGISTRY_TEST_EVERYTHING:-}" ]]; then
  default_everything="$root/.deps/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
  [[ -f "$default_everything" ]] && export MCP_REGISTRY_TEST_EVERYTHING="$default_everything"
fi

step() { printf '\n==> typescript client: %s\n' "$*"; }

step "npm ci"
stamp=node_modules/.mcp-registry-install.stamp
want="$(node --version) $(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "node_modules/ matches package-lock.json: skipping npm ci"
else
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
  echo "$want" > "$stamp"
fi

step "generated code is up to date (npm run check-generated)"
npm run --silent check-generated

step "type check (tsc --noEmit)"
npm run --silent typecheck
echo "ok"

step "scenario test (npm test)"
npm test
