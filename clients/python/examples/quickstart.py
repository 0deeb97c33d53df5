#!/usr/bin/env python3
"""Quickstart: list the servers and packs an API key sees, and what each pack offers.

    pip install ./clients/python
    export MCP_REGISTRY_TARGET=127.0.0.1:50051
    export MCP_REGISTRY_KEY_ID=key_...      # from `mcp-registry admin create-key`
    export MCP_REGISTRY_SECRET=mcpr_...
    python3 clients/python/examples/quickstart.py

or pass them as arguments: quickstart.py --target HOST:PORT --key-id KEY --secret SECRET.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc

from mcp_registry_client import connect, error_info, mcp_server_pb2, pack_pb2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=os.environ.get("MCP_REGISTRY_TARGET", "127.0.0.1:50051"))
    parser.add_argument("--key-id", default=os.environ.get("MCP_REGISTRY_KEY_ID"))
    parser.add_argument("--secret", default=os.environ.get("MCP_REGISTRY_SECRET"))
    args = parser.parse_args()
    if not args.key_id or not args.secret:
        parser.error("set MCP_REGISTRY_KEY_ID and MCP_REGISTRY_SECRET, or pass --key-id and --secret")

    with connect(args.target, args.key_id, args.secret) as client:
        try:
            # Every server of the organization, page by page.
            request = mcp_server_pb2.ListMcpServersRequest(page_size=50)
            while True:
                page = client.servers.ListMcpServers(request, timeout=10)
                for server in page.mcp_servers:
                    status = mcp_server_pb2.ServerStatus.Name(server.status)
                    print(f"server {server.name}: {server.url} {status}, {server.tool_count} tools")
                if not page.next_page_token:
                    break
                request.page_token = page.next_page_token

            # Every pack, and the tools an agent using it may call now.
            packs = client.packs.ListPacks(pack_pb2.ListPacksRequest(page_size=50), timeout=10)
            for pack in packs.packs:
                resolved = client.packs.ResolvePack(pack_pb2.ResolvePackRequest(id=pack.id), timeout=10)
                names = ", ".join(tool.qualified_name for tool in resolved.tools) or "none"
                print(f"pack {pack.name} v{pack.version}: {len(resolved.tools)} tools ({names})")
        except grpc.RpcError as e:
            reason, metadata = error_info(e)
            print(f"error: {e.code().name} {reason}: {e.details()} {metadata or ''}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
