import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mcp_registry_client.mcpregistry.v1 import admin_pb2 as _admin_pb2
from mcp_registry_client.mcpregistry.v1 import errors_pb2 as _errors_pb2
from mcp_registry_client.mcpregistry.v1 import secret_pb2 as _secret_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Transport(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSPORT_UNSPECIFIED: _ClassVar[Transport]
    TRANSPORT_AUTO: _ClassVar[Transport]
    TRANSPORT_STREAMABLE_HTTP: _ClassVar[Transport]
    TRANSPORT_SSE: _ClassVar[Transport]

class AuthType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTH_TYPE_UNSPECIFIED: _ClassVar[AuthType]
    AUTH_TYPE_NONE: _ClassVar[AuthType]
    AUTH_TYPE_API_KEY: _ClassVar[AuthType]
    AUTH_TYPE_BEARER_TOKEN: _ClassVar[AuthType]
    AUTH_TYPE_OAUTH2_CLIENT_CREDENTIALS: _ClassVar[AuthType]
    AUTH_TYPE_OAUTH2_AUTHORIZATION_CODE: _ClassVar[AuthType]

class ApprovalPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_POLICY_UNSPECIFIED: _ClassVar[ApprovalPolicy]
    APPROVAL_POLICY_REQUIRE_NONE: _ClassVar[ApprovalPolicy]
    APPROVAL_POLICY_REQUIRE_ALL: _ClassVar[ApprovalPolicy]

class Visibility(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VISIBILITY_UNSPECIFIED: _ClassVar[Visibility]
    VISIBILITY_PRIVATE: _ClassVar[Visibility]
    VISIBILITY_CATALOG: _ClassVar[Visibility]

class ServerStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVER_STATUS_UNSPECIFIED: _ClassVar[ServerStatus]
    SERVER_STATUS_PENDING: _ClassVar[ServerStatus]
    SERVER_STATUS_SYNCING: _ClassVar[ServerStatus]
    SERVER_STATUS_CONNECTED: _ClassVar[ServerStatus]
    SERVER_STATUS_ERROR: _ClassVar[ServerStatus]
    SERVER_STATUS_DISABLED: _ClassVar[ServerStatus]

class ToolApprovalState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_APPROVAL_STATE_UNSPECIFIED: _ClassVar[ToolApprovalState]
    TOOL_APPROVAL_STATE_NOT_REQUIRED: _ClassVar[ToolApprovalState]
    TOOL_APPROVAL_STATE_APPROVED: _ClassVar[ToolApprovalState]
    TOOL_APPROVAL_STATE_NOT_APPROVED: _ClassVar[ToolApprovalState]
    TOOL_APPROVAL_STATE_CHANGED_SINCE_APPROVAL: _ClassVar[ToolApprovalState]

class TokenScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOKEN_SCOPE_UNSPECIFIED: _ClassVar[TokenScope]
    TOKEN_SCOPE_ORGANIZATION: _ClassVar[TokenScope]
    TOKEN_SCOPE_SUBJECT: _ClassVar[TokenScope]

class ImportConflict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_CONFLICT_UNSPECIFIED: _ClassVar[ImportConflict]
    IMPORT_CONFLICT_SKIP: _ClassVar[ImportConflict]
    IMPORT_CONFLICT_FAIL: _ClassVar[ImportConflict]
    IMPORT_CONFLICT_RENAME: _ClassVar[ImportConflict]

class ImportOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_OUTCOME_UNSPECIFIED: _ClassVar[ImportOutcome]
    IMPORT_OUTCOME_CREATED: _ClassVar[ImportOutcome]
    IMPORT_OUTCOME_RENAMED: _ClassVar[ImportOutcome]
    IMPORT_OUTCOME_SKIPPED_EXISTS: _ClassVar[ImportOutcome]
    IMPORT_OUTCOME_SKIPPED_LOCAL: _ClassVar[ImportOutcome]

class ImportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_FORMAT_UNSPECIFIED: _ClassVar[ImportFormat]
    IMPORT_FORMAT_MCP_CLIENT_CONFIG: _ClassVar[ImportFormat]
    IMPORT_FORMAT_SERVER_JSON: _ClassVar[ImportFormat]
TRANSPORT_UNSPECIFIED: Transport
TRANSPORT_AUTO: Transport
TRANSPORT_STREAMABLE_HTTP: Transport
TRANSPORT_SSE: Transport
AUTH_TYPE_UNSPECIFIED: AuthType
AUTH_TYPE_NONE: AuthType
AUTH_TYPE_API_KEY: AuthType
AUTH_TYPE_BEARER_TOKEN: AuthType
AUTH_TYPE_OAUTH2_CLIENT_CREDENTIALS: AuthType
AUTH_TYPE_OAUTH2_AUTHORIZATION_CODE: AuthType
APPROVAL_POLICY_UNSPECIFIED: ApprovalPolicy
APPROVAL_POLICY_REQUIRE_NONE: ApprovalPolicy
APPROVAL_POLICY_REQUIRE_ALL: ApprovalPolicy
VISIBILITY_UNSPECIFIED: Visibility
VISIBILITY_PRIVATE: Visibility
VISIBILITY_CATALOG: Visibility
SERVER_STATUS_UNSPECIFIED: ServerStatus
SERVER_STATUS_PENDING: ServerStatus
SERVER_STATUS_SYNCING: ServerStatus
SERVER_STATUS_CONNECTED: ServerStatus
SERVER_STATUS_ERROR: ServerStatus
SERVER_STATUS_DISABLED: ServerStatus
TOOL_APPROVAL_STATE_UNSPECIFIED: ToolApprovalState
TOOL_APPROVAL_STATE_NOT_REQUIRED: ToolApprovalState
TOOL_APPROVAL_STATE_APPROVED: ToolApprovalState
TOOL_APPROVAL_STATE_NOT_APPROVED: ToolApprovalState
TOOL_APPROVAL_STATE_CHANGED_SINCE_APPROVAL: ToolApprovalState
TOKEN_SCOPE_UNSPECIFIED: TokenScope
TOKEN_SCOPE_ORGANIZATION: TokenScope
TOKEN_SCOPE_SUBJECT: TokenScope
IMPORT_CONFLICT_UNSPECIFIED: ImportConflict
IMPORT_CONFLICT_SKIP: ImportConflict
IMPORT_CONFLICT_FAIL: ImportConflict
IMPORT_CONFLICT_RENAME: ImportConflict
IMPORT_OUTCOME_UNSPECIFIED: ImportOutcome
IMPORT_OUTCOME_CREATED: ImportOutcome
IMPORT_OUTCOME_RENAMED: ImportOutcome
IMPORT_OUTCOME_SKIPPED_EXISTS: ImportOutcome
IMPORT_OUTCOME_SKIPPED_LOCAL: ImportOutcome
IMPORT_FORMAT_UNSPECIFIED: ImportFormat
IMPORT_FORMAT_MCP_CLIENT_CONFIG: ImportFormat
IMPORT_FORMAT_SERVER_JSON: ImportFormat

class McpServer(_message.Message):
    __slots__ = ("id", "organization_id", "name", "display_name", "description", "url", "icon_url", "category", "transport", "auth_type", "credentials", "has_credentials", "credentials_updated_at", "request_headers", "approval_policy", "tool_configuration", "config", "enabled", "visibility", "status", "detected_transport", "server_info", "last_synced_at", "last_successful_sync_at", "last_error", "tool_count", "prompt_count", "resource_count", "resource_template_count", "tool_approval_hashes", "pack_ids", "created_at", "updated_at", "created_by", "modified_by", "created_by_subject", "modified_by_subject", "etag", "access_info", "next_sync_at", "documentation_url", "registry_name", "registry_version", "credentials_secret", "secret_request_headers")
    class RequestHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class SecretRequestHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _secret_pb2.SecretReference
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_secret_pb2.SecretReference, _Mapping]] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ICON_URL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    AUTH_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    HAS_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HEADERS_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_POLICY_FIELD_NUMBER: _ClassVar[int]
    TOOL_CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETECTED_TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    SERVER_INFO_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNCED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESSFUL_SYNC_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    TOOL_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TEMPLATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOOL_APPROVAL_HASHES_FIELD_NUMBER: _ClassVar[int]
    PACK_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_BY_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    ACCESS_INFO_FIELD_NUMBER: _ClassVar[int]
    NEXT_SYNC_AT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTATION_URL_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_NAME_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_SECRET_FIELD_NUMBER: _ClassVar[int]
    SECRET_REQUEST_HEADERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    organization_id: str
    name: str
    display_name: str
    description: str
    url: str
    icon_url: str
    category: str
    transport: Transport
    auth_type: AuthType
    credentials: Credentials
    has_credentials: bool
    credentials_updated_at: _timestamp_pb2.Timestamp
    request_headers: _containers.ScalarMap[str, str]
    approval_policy: ApprovalPolicy
    tool_configuration: ToolConfiguration
    config: _struct_pb2.Struct
    enabled: bool
    visibility: Visibility
    status: ServerStatus
    detected_transport: Transport
    server_info: ServerInfo
    last_synced_at: _timestamp_pb2.Timestamp
    last_successful_sync_at: _timestamp_pb2.Timestamp
    last_error: SyncError
    tool_count: int
    prompt_count: int
    resource_count: int
    resource_template_count: int
    tool_approval_hashes: _containers.RepeatedScalarFieldContainer[str]
    pack_ids: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    created_by: str
    modified_by: str
    created_by_subject: str
    modified_by_subject: str
    etag: str
    access_info: AccessInfo
    next_sync_at: _timestamp_pb2.Timestamp
    documentation_url: str
    registry_name: str
    registry_version: str
    credentials_secret: _secret_pb2.SecretReference
    secret_request_headers: _containers.MessageMap[str, _secret_pb2.SecretReference]
    def __init__(self, id: _Optional[str] = ..., organization_id: _Optional[str] = ..., name: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., url: _Optional[str] = ..., icon_url: _Optional[str] = ..., category: _Optional[str] = ..., transport: _Optional[_Union[Transport, str]] = ..., auth_type: _Optional[_Union[AuthType, str]] = ..., credentials: _Optional[_Union[Credentials, _Mapping]] = ..., has_credentials: _Optional[bool] = ..., credentials_updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_headers: _Optional[_Mapping[str, str]] = ..., approval_policy: _Optional[_Union[ApprovalPolicy, str]] = ..., tool_configuration: _Optional[_Union[ToolConfiguration, _Mapping]] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., enabled: _Optional[bool] = ..., visibility: _Optional[_Union[Visibility, str]] = ..., status: _Optional[_Union[ServerStatus, str]] = ..., detected_transport: _Optional[_Union[Transport, str]] = ..., server_info: _Optional[_Union[ServerInfo, _Mapping]] = ..., last_synced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_successful_sync_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[_Union[SyncError, _Mapping]] = ..., tool_count: _Optional[int] = ..., prompt_count: _Optional[int] = ..., resource_count: _Optional[int] = ..., resource_template_count: _Optional[int] = ..., tool_approval_hashes: _Optional[_Iterable[str]] = ..., pack_ids: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., modified_by: _Optional[str] = ..., created_by_subject: _Optional[str] = ..., modified_by_subject: _Optional[str] = ..., etag: _Optional[str] = ..., access_info: _Optional[_Union[AccessInfo, _Mapping]] = ..., next_sync_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., documentation_url: _Optional[str] = ..., registry_name: _Optional[str] = ..., registry_version: _Optional[str] = ..., credentials_secret: _Optional[_Union[_secret_pb2.SecretReference, _Mapping]] = ..., secret_request_headers: _Optional[_Mapping[str, _secret_pb2.SecretReference]] = ...) -> None: ...

class Credentials(_message.Message):
    __slots__ = ("api_key", "bearer_token", "oauth2_client_credentials", "oauth2_authorization_code")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    BEARER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OAUTH2_CLIENT_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    OAUTH2_AUTHORIZATION_CODE_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKeyCredentials
    bearer_token: BearerTokenCredentials
    oauth2_client_credentials: OAuth2ClientCredentials
    oauth2_authorization_code: OAuth2AuthorizationCode
    def __init__(self, api_key: _Optional[_Union[ApiKeyCredentials, _Mapping]] = ..., bearer_token: _Optional[_Union[BearerTokenCredentials, _Mapping]] = ..., oauth2_client_credentials: _Optional[_Union[OAuth2ClientCredentials, _Mapping]] = ..., oauth2_authorization_code: _Optional[_Union[OAuth2AuthorizationCode, _Mapping]] = ...) -> None: ...

class ApiKeyCredentials(_message.Message):
    __slots__ = ("key", "header_name", "key_secret")
    KEY_FIELD_NUMBER: _ClassVar[int]
    HEADER_NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_SECRET_FIELD_NUMBER: _ClassVar[int]
    key: str
    header_name: str
    key_secret: _secret_pb2.SecretReference
    def __init__(self, key: _Optional[str] = ..., header_name: _Optional[str] = ..., key_secret: _Optional[_Union[_secret_pb2.SecretReference, _Mapping]] = ...) -> None: ...

class BearerTokenCredentials(_message.Message):
    __slots__ = ("token", "token_secret")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SECRET_FIELD_NUMBER: _ClassVar[int]
    token: str
    token_secret: _secret_pb2.SecretReference
    def __init__(self, token: _Optional[str] = ..., token_secret: _Optional[_Union[_secret_pb2.SecretReference, _Mapping]] = ...) -> None: ...

class OAuth2ClientCredentials(_message.Message):
    __slots__ = ("token_url", "client_id", "client_secret", "scopes")
    TOKEN_URL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    token_url: str
    client_id: str
    client_secret: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, token_url: _Optional[str] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class OAuth2AuthorizationCode(_message.Message):
    __slots__ = ("client_id", "client_secret", "client_secret_secret", "scopes", "issuer", "token_scope")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_SECRET_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SCOPE_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    client_secret: str
    client_secret_secret: _secret_pb2.SecretReference
    scopes: _containers.RepeatedScalarFieldContainer[str]
    issuer: str
    token_scope: TokenScope
    def __init__(self, client_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., client_secret_secret: _Optional[_Union[_secret_pb2.SecretReference, _Mapping]] = ..., scopes: _Optional[_Iterable[str]] = ..., issuer: _Optional[str] = ..., token_scope: _Optional[_Union[TokenScope, str]] = ...) -> None: ...

class ToolConfiguration(_message.Message):
    __slots__ = ("enabled", "allowed_tools")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_TOOLS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    allowed_tools: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, enabled: _Optional[bool] = ..., allowed_tools: _Optional[_Iterable[str]] = ...) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("name", "version", "protocol_version", "title", "instructions", "capabilities")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    protocol_version: str
    title: str
    instructions: str
    capabilities: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., protocol_version: _Optional[str] = ..., title: _Optional[str] = ..., instructions: _Optional[str] = ..., capabilities: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SyncError(_message.Message):
    __slots__ = ("reason", "message", "occurred_at", "sync_run_id")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    SYNC_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    reason: _errors_pb2.ErrorReason
    message: str
    occurred_at: _timestamp_pb2.Timestamp
    sync_run_id: str
    def __init__(self, reason: _Optional[_Union[_errors_pb2.ErrorReason, str]] = ..., message: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sync_run_id: _Optional[str] = ...) -> None: ...

class AccessInfo(_message.Message):
    __slots__ = ("role", "is_creator", "can_edit")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    IS_CREATOR_FIELD_NUMBER: _ClassVar[int]
    CAN_EDIT_FIELD_NUMBER: _ClassVar[int]
    role: _admin_pb2.Role
    is_creator: bool
    can_edit: bool
    def __init__(self, role: _Optional[_Union[_admin_pb2.Role, str]] = ..., is_creator: _Optional[bool] = ..., can_edit: _Optional[bool] = ...) -> None: ...

class Tool(_message.Message):
    __slots__ = ("name", "title", "description", "input_schema", "output_schema", "annotations", "definition_hash", "approval_state", "approved_definition_hash", "discovered_at", "changed_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_STATE_FIELD_NUMBER: _ClassVar[int]
    APPROVED_DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    DISCOVERED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    description: str
    input_schema: _struct_pb2.Struct
    output_schema: _struct_pb2.Struct
    annotations: _struct_pb2.Struct
    definition_hash: str
    approval_state: ToolApprovalState
    approved_definition_hash: str
    discovered_at: _timestamp_pb2.Timestamp
    changed_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., input_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., output_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., annotations: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., definition_hash: _Optional[str] = ..., approval_state: _Optional[_Union[ToolApprovalState, str]] = ..., approved_definition_hash: _Optional[str] = ..., discovered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Prompt(_message.Message):
    __slots__ = ("name", "title", "description", "arguments", "definition_hash", "discovered_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    DISCOVERED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    description: str
    arguments: _containers.RepeatedCompositeFieldContainer[PromptArgument]
    definition_hash: str
    discovered_at: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., arguments: _Optional[_Iterable[_Union[PromptArgument, _Mapping]]] = ..., definition_hash: _Optional[str] = ..., discovered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PromptArgument(_message.Message):
    __slots__ = ("name", "title", "description", "required")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    name: str
    title: str
    description: str
    required: bool
    def __init__(self, name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., required: _Optional[bool] = ...) -> None: ...

class Resource(_message.Message):
    __slots__ = ("uri", "name", "title", "description", "mime_type", "size", "annotations", "definition_hash", "discovered_at")
    URI_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    DISCOVERED_AT_FIELD_NUMBER: _ClassVar[int]
    uri: str
    name: str
    title: str
    description: str
    mime_type: str
    size: int
    annotations: _struct_pb2.Struct
    definition_hash: str
    discovered_at: _timestamp_pb2.Timestamp
    def __init__(self, uri: _Optional[str] = ..., name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., mime_type: _Optional[str] = ..., size: _Optional[int] = ..., annotations: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., definition_hash: _Optional[str] = ..., discovered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ResourceTemplate(_message.Message):
    __slots__ = ("uri_template", "name", "title", "description", "mime_type", "annotations", "definition_hash", "discovered_at")
    URI_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    DISCOVERED_AT_FIELD_NUMBER: _ClassVar[int]
    uri_template: str
    name: str
    title: str
    description: str
    mime_type: str
    annotations: _struct_pb2.Struct
    definition_hash: str
    discovered_at: _timestamp_pb2.Timestamp
    def __init__(self, uri_template: _Optional[str] = ..., name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., mime_type: _Optional[str] = ..., annotations: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., definition_hash: _Optional[str] = ..., discovered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateMcpServerRequest(_message.Message):
    __slots__ = ("mcp_server",)
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    mcp_server: McpServer
    def __init__(self, mcp_server: _Optional[_Union[McpServer, _Mapping]] = ...) -> None: ...

class GetMcpServerRequest(_message.Message):
    __slots__ = ("id", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class McpServerFilter(_message.Message):
    __slots__ = ("status", "category", "visibility", "name_prefix", "query", "tool_name", "created_by_subject", "mine")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    MINE_FIELD_NUMBER: _ClassVar[int]
    status: ServerStatus
    category: str
    visibility: Visibility
    name_prefix: str
    query: str
    tool_name: str
    created_by_subject: str
    mine: bool
    def __init__(self, status: _Optional[_Union[ServerStatus, str]] = ..., category: _Optional[str] = ..., visibility: _Optional[_Union[Visibility, str]] = ..., name_prefix: _Optional[str] = ..., query: _Optional[str] = ..., tool_name: _Optional[str] = ..., created_by_subject: _Optional[str] = ..., mine: _Optional[bool] = ...) -> None: ...

class ListMcpServersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter", "include_catalog")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CATALOG_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: McpServerFilter
    include_catalog: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[_Union[McpServerFilter, _Mapping]] = ..., include_catalog: _Optional[bool] = ...) -> None: ...

class ListMcpServersResponse(_message.Message):
    __slots__ = ("mcp_servers", "next_page_token", "total_size")
    MCP_SERVERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    mcp_servers: _containers.RepeatedCompositeFieldContainer[McpServer]
    next_page_token: str
    total_size: int
    def __init__(self, mcp_servers: _Optional[_Iterable[_Union[McpServer, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class SearchToolsRequest(_message.Message):
    __slots__ = ("query", "page_size", "page_token", "server_id", "category", "approval_states", "pack_id", "include_packs")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_STATES_FIELD_NUMBER: _ClassVar[int]
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PACKS_FIELD_NUMBER: _ClassVar[int]
    query: str
    page_size: int
    page_token: str
    server_id: str
    category: str
    approval_states: _containers.RepeatedScalarFieldContainer[ToolApprovalState]
    pack_id: str
    include_packs: bool
    def __init__(self, query: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., server_id: _Optional[str] = ..., category: _Optional[str] = ..., approval_states: _Optional[_Iterable[_Union[ToolApprovalState, str]]] = ..., pack_id: _Optional[str] = ..., include_packs: _Optional[bool] = ...) -> None: ...

class ToolHit(_message.Message):
    __slots__ = ("server_id", "server_name", "tool_name", "title", "description", "score", "pack_ids")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PACK_IDS_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    server_name: str
    tool_name: str
    title: str
    description: str
    score: float
    pack_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, server_id: _Optional[str] = ..., server_name: _Optional[str] = ..., tool_name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., score: _Optional[float] = ..., pack_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchToolsResponse(_message.Message):
    __slots__ = ("hits", "next_page_token", "total_size")
    HITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[ToolHit]
    next_page_token: str
    total_size: int
    def __init__(self, hits: _Optional[_Iterable[_Union[ToolHit, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateMcpServerRequest(_message.Message):
    __slots__ = ("mcp_server", "update_mask")
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    mcp_server: McpServer
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, mcp_server: _Optional[_Union[McpServer, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteMcpServerRequest(_message.Message):
    __slots__ = ("id", "force", "etag")
    ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    id: str
    force: bool
    etag: str
    def __init__(self, id: _Optional[str] = ..., force: _Optional[bool] = ..., etag: _Optional[str] = ...) -> None: ...

class ListServerToolsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "server_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    server_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., server_id: _Optional[str] = ...) -> None: ...

class ListServerToolsResponse(_message.Message):
    __slots__ = ("tools", "next_page_token", "total_size")
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[Tool]
    next_page_token: str
    total_size: int
    def __init__(self, tools: _Optional[_Iterable[_Union[Tool, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListServerPromptsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "server_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    server_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., server_id: _Optional[str] = ...) -> None: ...

class ListServerPromptsResponse(_message.Message):
    __slots__ = ("prompts", "next_page_token", "total_size")
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    prompts: _containers.RepeatedCompositeFieldContainer[Prompt]
    next_page_token: str
    total_size: int
    def __init__(self, prompts: _Optional[_Iterable[_Union[Prompt, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListServerResourcesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "server_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    server_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., server_id: _Optional[str] = ...) -> None: ...

class ListServerResourcesResponse(_message.Message):
    __slots__ = ("resources", "resource_templates", "next_page_token", "total_size")
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    resources: _containers.RepeatedCompositeFieldContainer[Resource]
    resource_templates: _containers.RepeatedCompositeFieldContainer[ResourceTemplate]
    next_page_token: str
    total_size: int
    def __init__(self, resources: _Optional[_Iterable[_Union[Resource, _Mapping]]] = ..., resource_templates: _Optional[_Iterable[_Union[ResourceTemplate, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ApproveToolsRequest(_message.Message):
    __slots__ = ("server_id", "tool_names", "definition_hashes", "all_tools", "revoke_tool_names", "etag")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAMES_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASHES_FIELD_NUMBER: _ClassVar[int]
    ALL_TOOLS_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TOOL_NAMES_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    tool_names: _containers.RepeatedScalarFieldContainer[str]
    definition_hashes: _containers.RepeatedScalarFieldContainer[str]
    all_tools: bool
    revoke_tool_names: _containers.RepeatedScalarFieldContainer[str]
    etag: str
    def __init__(self, server_id: _Optional[str] = ..., tool_names: _Optional[_Iterable[str]] = ..., definition_hashes: _Optional[_Iterable[str]] = ..., all_tools: _Optional[bool] = ..., revoke_tool_names: _Optional[_Iterable[str]] = ..., etag: _Optional[str] = ...) -> None: ...

class ImportMcpConfigRequest(_message.Message):
    __slots__ = ("config_json", "variables", "on_conflict", "dry_run", "visibility", "format")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    ON_CONFLICT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    config_json: str
    variables: _containers.ScalarMap[str, str]
    on_conflict: ImportConflict
    dry_run: bool
    visibility: Visibility
    format: ImportFormat
    def __init__(self, config_json: _Optional[str] = ..., variables: _Optional[_Mapping[str, str]] = ..., on_conflict: _Optional[_Union[ImportConflict, str]] = ..., dry_run: _Optional[bool] = ..., visibility: _Optional[_Union[Visibility, str]] = ..., format: _Optional[_Union[ImportFormat, str]] = ...) -> None: ...

class ExportMcpServerRequest(_message.Message):
    __slots__ = ("id", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ExportMcpServerResponse(_message.Message):
    __slots__ = ("server_json",)
    SERVER_JSON_FIELD_NUMBER: _ClassVar[int]
    server_json: str
    def __init__(self, server_json: _Optional[str] = ...) -> None: ...

class ImportMcpConfigResponse(_message.Message):
    __slots__ = ("entries", "created_count", "skipped_count")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ImportedEntry]
    created_count: int
    skipped_count: int
    def __init__(self, entries: _Optional[_Iterable[_Union[ImportedEntry, _Mapping]]] = ..., created_count: _Optional[int] = ..., skipped_count: _Optional[int] = ...) -> None: ...

class ImportedEntry(_message.Message):
    __slots__ = ("key", "outcome", "mcp_server", "detail")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    MCP_SERVER_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    key: str
    outcome: ImportOutcome
    mcp_server: McpServer
    detail: str
    def __init__(self, key: _Optional[str] = ..., outcome: _Optional[_Union[ImportOutcome, str]] = ..., mcp_server: _Optional[_Union[McpServer, _Mapping]] = ..., detail: _Optional[str] = ...) -> None: ...
