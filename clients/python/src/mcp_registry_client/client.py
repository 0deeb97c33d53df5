"""A channel with API-key authentication and the service stubs."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any, Callable, Optional

import grpc

from .mcpregistry.v1 import (
    admin_pb2_grpc,
    audit_pb2_grpc,
    mcp_server_pb2_grpc,
    oauth_pb2_grpc,
    pack_pb2_grpc,
    secret_pb2_grpc,
    sync_pb2_grpc,
)

#: Metadata key that carries the API key id (`key_...`).
API_KEY_HEADER = "x-api-key"
#: Metadata key that carries the API key secret (`mcpr_...`).
API_SECRET_HEADER = "x-api-secret"

Metadata = Sequence[tuple[str, str]]


class _CallDetails(
    collections.namedtuple(
        "_CallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    """`grpc.ClientCallDetails` with replaced metadata."""


class MetadataInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds fixed metadata (the API key) to every call of a channel.

    Metadata given on a call is kept; the interceptor's entries come after it.
    """

    def __init__(self, metadata: Metadata) -> None:
        self._metadata = tuple(metadata)

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = list(details.metadata or ()) + list(self._metadata)
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(
        self,
        continuation: Callable[..., Any],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[..., Any],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return continuation(self._details(client_call_details), request_iterator)


def api_key_metadata(key_id: str, secret: str) -> list[tuple[str, str]]:
    """The metadata that authenticates a call with an API key.

    Use it for one-off calls on a channel of your own::

        stub.ListMcpServers(request, metadata=api_key_metadata(key_id, secret))

    The service also accepts ``authorization: Bearer <key id>.<secret>``.
    """
    if not key_id or not secret:
        raise ValueError("key_id and secret are required")
    return [(API_KEY_HEADER, key_id), (API_SECRET_HEADER, secret)]


class Client:
    """Stubs of the seven services of mcp-registry on one authenticated channel.

    Attributes:
        channel: The channel every stub uses (with the API-key interceptor).
        admin: ``AdminService`` (organizations and API keys; platform-admin keys).
        servers: ``McpServerService`` (servers, their tools, prompts, resources).
        packs: ``PackService`` (packs, revisions, ``ResolvePack``, ``ExportPack``).
        sync: ``SyncService`` (``SyncMcpServer``, sync runs, ``WatchSyncEvents``).
        audit: ``AuditService`` (the audit trail and the gateway's call records).
        secrets: ``SecretService`` (stored secrets servers reference; values never returned).
        oauth: ``OAuthService`` (OAuth authorization-code connections of upstream servers).

    Use it as a context manager, or call :meth:`close`, to close the channel.
    """

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)
        self.servers = mcp_server_pb2_grpc.McpServerServiceStub(channel)
        self.packs = pack_pb2_grpc.PackServiceStub(channel)
        self.sync = sync_pb2_grpc.SyncServiceStub(channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(channel)
        self.secrets = secret_pb2_grpc.SecretServiceStub(channel)
        self.oauth = oauth_pb2_grpc.OAuthServiceStub(channel)

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def connect(
    target: str,
    key_id: str,
    secret: str,
    *,
    credentials: Optional[grpc.ChannelCredentials] = None,
    options: Optional[Sequence[tuple[str, Any]]] = None,
) -> Client:
    """Opens a channel to the service and returns its stubs.

    Every call made through the returned client carries the API key as the
    metadata ``x-api-key: <key_id>`` and ``x-api-secret: <secret>``.

    Args:
        target: ``host:port`` of the gRPC listener, for example ``127.0.0.1:50051``.
        key_id: The API key id (``key_...``), as ``admin create-key`` or
            ``CreateApiKey`` printed it.
        secret: The key's secret (``mcpr_...``), shown only when it was created.
        credentials: TLS credentials (``grpc.ssl_channel_credentials()``) for a
            service behind TLS; ``None`` (the default) opens a plaintext channel.
        options: Extra channel options, passed to ``grpc``.

    Returns:
        A :class:`Client`; close it when done.
    """
    metadata = api_key_metadata(key_id, secret)
    if credentials is None:
        raw = grpc.insecure_channel(target, options=options)
    else:
        raw = grpc.secure_channel(target, credentials, options=options)
    return Client(grpc.intercept_channel(raw, MetadataInterceptor(metadata)))
