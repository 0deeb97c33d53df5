"""Decoding the rich error details of a failed call.

Every error of mcp-registry carries a ``google.rpc.Status`` in the
``grpc-status-details-bin`` trailer, with a ``google.rpc.ErrorInfo`` (domain
``mcpregistry``, ``reason`` one of the names of ``ErrorReason`` in
``errors.proto`` without its ``ERROR_REASON_`` prefix), a
``google.rpc.RequestInfo`` whose ``request_id`` appears in the service's logs,
and, depending on the error, a ``google.rpc.BadRequest`` (INVALID_ARGUMENT: every
invalid field at once) or a ``google.rpc.QuotaFailure`` (PLAN_LIMIT_EXCEEDED).
Switch on the reason, never on the message text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

_DETAILS_KEY = "grpc-status-details-bin"


def rpc_status_of(error: grpc.RpcError) -> Optional[status_pb2.Status]:
    """The ``google.rpc.Status`` of a failed call, or ``None`` when it has none.

    Uses ``grpc_status.rpc_status.from_call``; when that refuses the status
    (its code or message differs from the call's), the trailer is decoded as is.
    """
    if not isinstance(error, grpc.Call):
        return None
    try:
        return rpc_status.from_call(error)
    except ValueError:
        for key, value in error.trailing_metadata() or ():
            if key == _DETAILS_KEY:
                return status_pb2.Status.FromString(value)
        return None


@dataclass(frozen=True)
class ErrorDetails:
    """Everything the service says about a failed call.

    Attributes:
        code: The gRPC status code.
        message: The human-readable message (not meant for parsing).
        reason: The ErrorInfo reason, for example ``INVALID_ARGUMENT`` or
            ``PLAN_LIMIT_EXCEEDED``; empty when the error has no ErrorInfo
            (for example a transport error that never reached the service).
        domain: The ErrorInfo domain (``mcpregistry``).
        metadata: The ErrorInfo metadata (for example ``sync_run_id``).
        field_violations: ``(field, description)`` of each BadRequest violation,
            the field as a path into the request (``mcp_server.url``).
        quota_violations: ``(subject, description)`` of each QuotaFailure
            violation (subject ``packs``, ``servers_per_pack``, ``private_servers``).
        request_id: The RequestInfo request id, to find the call in the logs.
    """

    code: grpc.StatusCode
    message: str
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    field_violations: list[tuple[str, str]] = field(default_factory=list)
    quota_violations: list[tuple[str, str]] = field(default_factory=list)
    request_id: str = ""


def error_details(error: grpc.RpcError) -> ErrorDetails:
    """Decodes the code, message and every known detail of a failed call."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = (error.details() or "") if isinstance(error, grpc.Call) else str(error)
    status = rpc_status_of(error)
    if status is None:
        return ErrorDetails(code=code, message=message)
    reason, domain, metadata, request_id = "", "", {}, ""
    violations: list[tuple[str, str]] = []
    quota: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend((v.field, v.description) for v in bad.field_violations)
        elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
            quota.extend((v.subject, v.description) for v in failure.violations)
        elif detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
            info = error_details_pb2.RequestInfo()
            detail.Unpack(info)
            request_id = info.request_id
    return ErrorDetails(
        code=code,
        message=message,
        reason=reason,
        domain=domain,
        metadata=metadata,
        field_violations=violations,
        quota_violations=quota,
        request_id=request_id,
    )


def error_info(error: grpc.RpcError) -> tuple[str, dict[str, str]]:
    """``(reason, metadata)`` of the ``google.rpc.ErrorInfo`` of a failed call.

    ``reason`` is for example ``"NOT_FOUND"`` or ``"ETAG_MISMATCH"``; the
    metadata holds extra keys such as ``sync_run_id``. Returns ``("", {})`` when
    the error carries no ErrorInfo.

    Example::

        try:
            client.servers.GetMcpServer(mcp_server_pb2.GetMcpServerRequest(name="nope"))
        except grpc.RpcError as e:
            reason, metadata = error_info(e)
            if reason == "NOT_FOUND":
                ...
    """
    details = error_details(error)
    return details.reason, details.metadata


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """``(field, description)`` of every ``google.rpc.BadRequest`` field violation."""
    return error_details(error).field_violations
