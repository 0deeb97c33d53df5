// TypeScript client of mcp-registry: the services generated from proto/ by
// protoc-gen-es (src/gen/), used with Connect over gRPC (HTTP/2).
//
//   const registry = createRegistryClients("http://127.0.0.1:50051", keyId, secret);
//   const { mcpServers } = await registry.mcpServers.listMcpServers({});
//   registry.close();

import {
  Code,
  ConnectError,
  createClient,
  type Client,
  type Interceptor,
} from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { Transport } from "@connectrpc/connect";

import {
  BadRequestSchema,
  ErrorInfoSchema,
  QuotaFailureSchema,
  RequestInfoSchema,
  type BadRequest,
  type ErrorInfo,
  type QuotaFailure,
} from "./gen/google/rpc/error_details_pb.js";
import { AdminService } from "./gen/mcpregistry/v1/admin_pb.js";
import { AuditService } from "./gen/mcpregistry/v1/audit_pb.js";
import { ErrorReason } from "./gen/mcpregistry/v1/errors_pb.js";
import { McpServerService } from "./gen/mcpregistry/v1/mcp_server_pb.js";
import { OAuthService } from "./gen/mcpregistry/v1/oauth_pb.js";
import { PackService } from "./gen/mcpregistry/v1/pack_pb.js";
import { SecretService } from "./gen/mcpregistry/v1/secret_pb.js";
import { SyncService } from "./gen/mcpregistry/v1/sync_pb.js";

// Every generated message, enum and service of the API (mcpregistry.v1).
export * from "./gen/mcpregistry/v1/admin_pb.js";
export * from "./gen/mcpregistry/v1/audit_pb.js";
export * from "./gen/mcpregistry/v1/errors_pb.js";
export * from "./gen/mcpregistry/v1/mcp_server_pb.js";
export * from "./gen/mcpregistry/v1/oauth_pb.js";
export * from "./gen/mcpregistry/v1/pack_pb.js";
export * from "./gen/mcpregistry/v1/secret_pb.js";
export * from "./gen/mcpregistry/v1/sync_pb.js";
// The google.rpc error details the service attaches to failed calls.
export * as rpc from "./gen/google/rpc/error_details_pb.js";
// What callers need to handle errors without importing connect themselves.
export { Code, ConnectError };

/** The `domain` of every ErrorInfo detail the service sends. */
export const ERROR_DOMAIN = "mcpregistry";

/** Metadata names of the API key (see `ApiKey` in admin.proto). */
export const API_KEY_HEADER = "x-api-key";
export const API_SECRET_HEADER = "x-api-secret";

/**
 * An interceptor that authenticates every call with an API key: its id as
 * `x-api-key` and its secret as `x-api-secret`. (The service also accepts
 * `authorization: Bearer <id>.<secret>`.)
 */
export function apiKeyInterceptor(keyId: string, secret: string): Interceptor {
  return (next) => async (req) => {
    req.header.set(API_KEY_HEADER, keyId);
    req.header.set(API_SECRET_HEADER, secret);
    return next(req);
  };
}

/** Typed clients of the seven services, sharing one HTTP/2 connection. */
export interface RegistryClients {
  admin: Client<typeof AdminService>;
  mcpServers: Client<typeof McpServerService>;
  packs: Client<typeof PackService>;
  sync: Client<typeof SyncService>;
  audit: Client<typeof AuditService>;
  secrets: Client<typeof SecretService>;
  oauth: Client<typeof OAuthService>;
  /** The gRPC transport, to create further clients on the same connection. */
  transport: Transport;
  /** Closes the HTTP/2 connection; calls still open fail with Code.Canceled. */
  close(): void;
}

export interface RegistryClientOptions {
  /** Interceptors run after the API key interceptor (for example logging). */
  interceptors?: Interceptor[];
  /** Default deadline of every call, in milliseconds (none when unset). */
  defaultTimeoutMs?: number;
}

/**
 * Creates the clients of AdminService, McpServerService, PackService,
 * SyncService, AuditService, SecretService and OAuthService for the service at `baseUrl` (`http://host:port` for plaintext
 * HTTP/2, `https://...` for TLS), authenticating with an API key.
 */
export function createRegistryClients(
  baseUrl: string,
  keyId: string,
  secret: string,
  options: RegistryClientOptions = {},
): RegistryClients {
  const sessionManager = new Http2SessionManager(baseUrl);
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager,
    interceptors: [apiKeyInterceptor(keyId, secret), ...(options.interceptors ?? [])],
    defaultTimeoutMs: options.defaultTimeoutMs,
  });
  return {
    admin: createClient(AdminService, transport),
    mcpServers: createClient(McpServerService, transport),
    packs: createClient(PackService, transport),
    sync: createClient(SyncService, transport),
    audit: createClient(AuditService, transport),
    secrets: createClient(SecretService, transport),
    oauth: createClient(OAuthService, transport),
    transport,
    close: () => sessionManager.abort(),
  };
}

/** The error as a ConnectError, or undefined when it is something else. */
function asConnectError(err: unknown): ConnectError | undefined {
  return err instanceof ConnectError ? err : undefined;
}

/**
 * The `google.rpc.ErrorInfo` detail of a failed call (domain `mcpregistry`),
 * or undefined when the error carries none (for example a transport failure).
 */
export function errorInfo(err: unknown): ErrorInfo | undefined {
  const infos = asConnectError(err)?.findDetails(ErrorInfoSchema) ?? [];
  return infos.find((i) => i.domain === ERROR_DOMAIN) ?? infos[0];
}

/**
 * The `reason` of the error's ErrorInfo detail, such as `INVALID_ARGUMENT`,
 * `NOT_FOUND` or `PLAN_LIMIT_EXCEEDED` (the ErrorReason value's name without
 * its `ERROR_REASON_` prefix); undefined when there is no such detail.
 * Switch on this, never on the message text.
 */
export function errorReason(err: unknown): string | undefined {
  return errorInfo(err)?.reason;
}

/**
 * The reason as the generated `ErrorReason` enum (ErrorReason.UNSPECIFIED when
 * there is no ErrorInfo detail or the reason is newer than this client).
 */
export function errorReasonEnum(err: unknown): ErrorReason {
  const reason = errorReason(err);
  if (reason === undefined) return ErrorReason.UNSPECIFIED;
  const value = (ErrorReason as unknown as Record<string, ErrorReason | undefined>)[reason];
  return typeof value === "number" ? value : ErrorReason.UNSPECIFIED;
}

/** The `google.rpc.BadRequest` detail of an INVALID_ARGUMENT error, if any. */
export function badRequest(err: unknown): BadRequest | undefined {
  return asConnectError(err)?.findDetails(BadRequestSchema)[0];
}

/** The `google.rpc.QuotaFailure` detail of a PLAN_LIMIT_EXCEEDED error, if any. */
export function quotaFailure(err: unknown): QuotaFailure | undefined {
  return asConnectError(err)?.findDetails(QuotaFailureSchema)[0];
}

/** The request id of a failed call (`google.rpc.RequestInfo`), as in the service's logs. */
export function requestId(err: unknown): string | undefined {
  return asConnectError(err)?.findDetails(RequestInfoSchema)[0]?.requestId;
}

/** The gRPC status code of an error (Code.Unknown for non-Connect errors). */
export function errorCode(err: unknown): Code {
  return ConnectError.from(err).code;
}
