"""Python client of mcp-registry, a gRPC registry of remote MCP servers.

Quick use::

    from mcp_registry_client import connect, error_info, mcp_server_pb2

    with connect("127.0.0.1:50051", key_id, secret) as client:
        page = client.servers.ListMcpServers(mcp_server_pb2.ListMcpServersRequest())

The generated modules live in ``mcp_registry_client.mcpregistry.v1`` (one
``*_pb2`` and one ``*_pb2_grpc`` per proto file) and are re-exported here.
"""

from .client import API_KEY_HEADER, API_SECRET_HEADER, Client, MetadataInterceptor, api_key_metadata, connect
from .errors import ErrorDetails, error_details, error_info, field_violations, rpc_status_of
from .mcpregistry.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    errors_pb2,
    mcp_server_pb2,
    mcp_server_pb2_grpc,
    oauth_pb2,
    oauth_pb2_grpc,
    pack_pb2,
    pack_pb2_grpc,
    secret_pb2,
    secret_pb2_grpc,
    sync_pb2,
    sync_pb2_grpc,
)

__version__ = "0.1.0"

__all__ = [
    "API_KEY_HEADER",
    "API_SECRET_HEADER",
    "Client",
    "ErrorDetails",
    "MetadataInterceptor",
    "admin_pb2",
    "admin_pb2_grpc",
    "api_key_metadata",
    "audit_pb2",
    "audit_pb2_grpc",
    "connect",
    "error_details",
    "error_info",
    "errors_pb2",
    "field_violations",
    "mcp_server_pb2",
    "mcp_server_pb2_grpc",
    "oauth_pb2",
    "oauth_pb2_grpc",
    "pack_pb2",
    "pack_pb2_grpc",
    "rpc_status_of",
    "secret_pb2",
    "secret_pb2_grpc",
    "sync_pb2",
    "sync_pb2_grpc",
]
