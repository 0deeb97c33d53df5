import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PackChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PACK_CHANGE_KIND_UNSPECIFIED: _ClassVar[PackChangeKind]
    PACK_CHANGE_KIND_CREATED: _ClassVar[PackChangeKind]
    PACK_CHANGE_KIND_UPDATED: _ClassVar[PackChangeKind]
    PACK_CHANGE_KIND_SERVER_ADDED: _ClassVar[PackChangeKind]
    PACK_CHANGE_KIND_SERVER_REMOVED: _ClassVar[PackChangeKind]
    PACK_CHANGE_KIND_SERVERS_REPLACED: _ClassVar[PackChangeKind]
    PACK_CHANGE_KIND_RESTORED: _ClassVar[PackChangeKind]
    PACK_CHANGE_KIND_SERVER_DELETED: _ClassVar[PackChangeKind]
    PACK_CHANGE_KIND_TOOL_SETTINGS_UPDATED: _ClassVar[PackChangeKind]

class ExclusionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXCLUSION_REASON_UNSPECIFIED: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_SERVER_DELETED: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_SERVER_DISABLED: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_SERVER_NEVER_SYNCED: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_SERVER_ERROR: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_TOOLS_DISABLED: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_NOT_ALLOWED: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_HIDDEN: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_NOT_LISTED: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_ADDED_SINCE_REVISION: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_CHANGED_SINCE_REVISION: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_NOT_APPROVED: _ClassVar[ExclusionReason]
    EXCLUSION_REASON_CHANGED_SINCE_APPROVAL: _ClassVar[ExclusionReason]

class ExportTransport(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_TRANSPORT_UNSPECIFIED: _ClassVar[ExportTransport]
    EXPORT_TRANSPORT_HTTP: _ClassVar[ExportTransport]
    EXPORT_TRANSPORT_SSE: _ClassVar[ExportTransport]

class ExportTarget(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_TARGET_UNSPECIFIED: _ClassVar[ExportTarget]
    EXPORT_TARGET_DIRECT: _ClassVar[ExportTarget]
    EXPORT_TARGET_GATEWAY: _ClassVar[ExportTarget]

class SettingIssueKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SETTING_ISSUE_KIND_UNSPECIFIED: _ClassVar[SettingIssueKind]
    SETTING_ISSUE_KIND_UNKNOWN_TOOL: _ClassVar[SettingIssueKind]
    SETTING_ISSUE_KIND_NAME_TAKEN_BY_ALIAS: _ClassVar[SettingIssueKind]
PACK_CHANGE_KIND_UNSPECIFIED: PackChangeKind
PACK_CHANGE_KIND_CREATED: PackChangeKind
PACK_CHANGE_KIND_UPDATED: PackChangeKind
PACK_CHANGE_KIND_SERVER_ADDED: PackChangeKind
PACK_CHANGE_KIND_SERVER_REMOVED: PackChangeKind
PACK_CHANGE_KIND_SERVERS_REPLACED: PackChangeKind
PACK_CHANGE_KIND_RESTORED: PackChangeKind
PACK_CHANGE_KIND_SERVER_DELETED: PackChangeKind
PACK_CHANGE_KIND_TOOL_SETTINGS_UPDATED: PackChangeKind
EXCLUSION_REASON_UNSPECIFIED: ExclusionReason
EXCLUSION_REASON_SERVER_DELETED: ExclusionReason
EXCLUSION_REASON_SERVER_DISABLED: ExclusionReason
EXCLUSION_REASON_SERVER_NEVER_SYNCED: ExclusionReason
EXCLUSION_REASON_SERVER_ERROR: ExclusionReason
EXCLUSION_REASON_TOOLS_DISABLED: ExclusionReason
EXCLUSION_REASON_NOT_ALLOWED: ExclusionReason
EXCLUSION_REASON_HIDDEN: ExclusionReason
EXCLUSION_REASON_NOT_LISTED: ExclusionReason
EXCLUSION_REASON_ADDED_SINCE_REVISION: ExclusionReason
EXCLUSION_REASON_CHANGED_SINCE_REVISION: ExclusionReason
EXCLUSION_REASON_NOT_APPROVED: ExclusionReason
EXCLUSION_REASON_CHANGED_SINCE_APPROVAL: ExclusionReason
EXPORT_TRANSPORT_UNSPECIFIED: ExportTransport
EXPORT_TRANSPORT_HTTP: ExportTransport
EXPORT_TRANSPORT_SSE: ExportTransport
EXPORT_TARGET_UNSPECIFIED: ExportTarget
EXPORT_TARGET_DIRECT: ExportTarget
EXPORT_TARGET_GATEWAY: ExportTarget
SETTING_ISSUE_KIND_UNSPECIFIED: SettingIssueKind
SETTING_ISSUE_KIND_UNKNOWN_TOOL: SettingIssueKind
SETTING_ISSUE_KIND_NAME_TAKEN_BY_ALIAS: SettingIssueKind

class Pack(_message.Message):
    __slots__ = ("id", "organization_id", "name", "description", "servers", "version", "created_at", "updated_at", "created_by", "modified_by", "created_by_subject", "modified_by_subject", "etag", "tool_settings")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_BY_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    TOOL_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    organization_id: str
    name: str
    description: str
    servers: _containers.RepeatedCompositeFieldContainer[PackServer]
    version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    created_by: str
    modified_by: str
    created_by_subject: str
    modified_by_subject: str
    etag: str
    tool_settings: _containers.RepeatedCompositeFieldContainer[MemberToolSettings]
    def __init__(self, id: _Optional[str] = ..., organization_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., servers: _Optional[_Iterable[_Union[PackServer, _Mapping]]] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., modified_by: _Optional[str] = ..., created_by_subject: _Optional[str] = ..., modified_by_subject: _Optional[str] = ..., etag: _Optional[str] = ..., tool_settings: _Optional[_Iterable[_Union[MemberToolSettings, _Mapping]]] = ...) -> None: ...

class PackServer(_message.Message):
    __slots__ = ("server_id", "name")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    name: str
    def __init__(self, server_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class PackRevision(_message.Message):
    __slots__ = ("pack_id", "version", "author", "created_at", "change_kind", "changed_servers", "updated_fields", "restored_from_version", "name", "description", "members", "changed_tools")
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_KIND_FIELD_NUMBER: _ClassVar[int]
    CHANGED_SERVERS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    RESTORED_FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_TOOLS_FIELD_NUMBER: _ClassVar[int]
    pack_id: str
    version: int
    author: str
    created_at: _timestamp_pb2.Timestamp
    change_kind: PackChangeKind
    changed_servers: _containers.RepeatedCompositeFieldContainer[PackServer]
    updated_fields: _containers.RepeatedScalarFieldContainer[str]
    restored_from_version: int
    name: str
    description: str
    members: _containers.RepeatedCompositeFieldContainer[PackRevisionMember]
    changed_tools: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, pack_id: _Optional[str] = ..., version: _Optional[int] = ..., author: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., change_kind: _Optional[_Union[PackChangeKind, str]] = ..., changed_servers: _Optional[_Iterable[_Union[PackServer, _Mapping]]] = ..., updated_fields: _Optional[_Iterable[str]] = ..., restored_from_version: _Optional[int] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., members: _Optional[_Iterable[_Union[PackRevisionMember, _Mapping]]] = ..., changed_tools: _Optional[_Iterable[str]] = ...) -> None: ...

class PackRevisionMember(_message.Message):
    __slots__ = ("server_id", "name", "tools", "tool_settings")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    TOOL_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    name: str
    tools: _containers.RepeatedCompositeFieldContainer[PinnedTool]
    tool_settings: PackToolSettings
    def __init__(self, server_id: _Optional[str] = ..., name: _Optional[str] = ..., tools: _Optional[_Iterable[_Union[PinnedTool, _Mapping]]] = ..., tool_settings: _Optional[_Union[PackToolSettings, _Mapping]] = ...) -> None: ...

class PackToolSettings(_message.Message):
    __slots__ = ("only_listed_tools", "tools")
    ONLY_LISTED_TOOLS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    only_listed_tools: bool
    tools: _containers.RepeatedCompositeFieldContainer[PackToolSetting]
    def __init__(self, only_listed_tools: _Optional[bool] = ..., tools: _Optional[_Iterable[_Union[PackToolSetting, _Mapping]]] = ...) -> None: ...

class PackToolSetting(_message.Message):
    __slots__ = ("tool_name", "hidden", "alias", "description")
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    tool_name: str
    hidden: bool
    alias: str
    description: str
    def __init__(self, tool_name: _Optional[str] = ..., hidden: _Optional[bool] = ..., alias: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class MemberToolSettings(_message.Message):
    __slots__ = ("server_id", "tool_settings")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    tool_settings: PackToolSettings
    def __init__(self, server_id: _Optional[str] = ..., tool_settings: _Optional[_Union[PackToolSettings, _Mapping]] = ...) -> None: ...

class SettingIssue(_message.Message):
    __slots__ = ("server_id", "server_name", "tool_name", "kind", "shown_name")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHOWN_NAME_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    server_name: str
    tool_name: str
    kind: SettingIssueKind
    shown_name: str
    def __init__(self, server_id: _Optional[str] = ..., server_name: _Optional[str] = ..., tool_name: _Optional[str] = ..., kind: _Optional[_Union[SettingIssueKind, str]] = ..., shown_name: _Optional[str] = ...) -> None: ...

class PinnedTool(_message.Message):
    __slots__ = ("name", "definition_hash")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    name: str
    definition_hash: str
    def __init__(self, name: _Optional[str] = ..., definition_hash: _Optional[str] = ...) -> None: ...

class ResolvedTool(_message.Message):
    __slots__ = ("qualified_name", "server_id", "server_name", "name", "title", "description", "input_schema", "output_schema", "annotations", "definition_hash", "aliased", "description_replaced")
    QUALIFIED_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    ALIASED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_REPLACED_FIELD_NUMBER: _ClassVar[int]
    qualified_name: str
    server_id: str
    server_name: str
    name: str
    title: str
    description: str
    input_schema: _struct_pb2.Struct
    output_schema: _struct_pb2.Struct
    annotations: _struct_pb2.Struct
    definition_hash: str
    aliased: bool
    description_replaced: bool
    def __init__(self, qualified_name: _Optional[str] = ..., server_id: _Optional[str] = ..., server_name: _Optional[str] = ..., name: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., input_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., output_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., annotations: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., definition_hash: _Optional[str] = ..., aliased: _Optional[bool] = ..., description_replaced: _Optional[bool] = ...) -> None: ...

class ExcludedTool(_message.Message):
    __slots__ = ("server_id", "server_name", "tool_name", "reason", "definition_hash", "alias")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    server_name: str
    tool_name: str
    reason: ExclusionReason
    definition_hash: str
    alias: str
    def __init__(self, server_id: _Optional[str] = ..., server_name: _Optional[str] = ..., tool_name: _Optional[str] = ..., reason: _Optional[_Union[ExclusionReason, str]] = ..., definition_hash: _Optional[str] = ..., alias: _Optional[str] = ...) -> None: ...

class ExportedServer(_message.Message):
    __slots__ = ("key", "server_id", "transport", "url", "server_name")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    key: str
    server_id: str
    transport: ExportTransport
    url: str
    server_name: str
    def __init__(self, key: _Optional[str] = ..., server_id: _Optional[str] = ..., transport: _Optional[_Union[ExportTransport, str]] = ..., url: _Optional[str] = ..., server_name: _Optional[str] = ...) -> None: ...

class ExportPlaceholder(_message.Message):
    __slots__ = ("name", "server_id", "header_name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    HEADER_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    server_id: str
    header_name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., server_id: _Optional[str] = ..., header_name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CreatePackRequest(_message.Message):
    __slots__ = ("pack",)
    PACK_FIELD_NUMBER: _ClassVar[int]
    pack: Pack
    def __init__(self, pack: _Optional[_Union[Pack, _Mapping]] = ...) -> None: ...

class GetPackRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListPacksRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "server_id", "query", "created_by_subject", "mine")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    MINE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    server_id: str
    query: str
    created_by_subject: str
    mine: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., server_id: _Optional[str] = ..., query: _Optional[str] = ..., created_by_subject: _Optional[str] = ..., mine: _Optional[bool] = ...) -> None: ...

class ListPacksResponse(_message.Message):
    __slots__ = ("packs", "next_page_token", "total_size")
    PACKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    packs: _containers.RepeatedCompositeFieldContainer[Pack]
    next_page_token: str
    total_size: int
    def __init__(self, packs: _Optional[_Iterable[_Union[Pack, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdatePackRequest(_message.Message):
    __slots__ = ("pack", "update_mask")
    PACK_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    pack: Pack
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, pack: _Optional[_Union[Pack, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeletePackRequest(_message.Message):
    __slots__ = ("id", "etag")
    ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    id: str
    etag: str
    def __init__(self, id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class AddPackServerRequest(_message.Message):
    __slots__ = ("pack_id", "server", "etag")
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    pack_id: str
    server: PackServer
    etag: str
    def __init__(self, pack_id: _Optional[str] = ..., server: _Optional[_Union[PackServer, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class RemovePackServerRequest(_message.Message):
    __slots__ = ("pack_id", "server", "etag")
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    pack_id: str
    server: PackServer
    etag: str
    def __init__(self, pack_id: _Optional[str] = ..., server: _Optional[_Union[PackServer, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class ReplacePackServersRequest(_message.Message):
    __slots__ = ("pack_id", "servers", "etag")
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    pack_id: str
    servers: _containers.RepeatedCompositeFieldContainer[PackServer]
    etag: str
    def __init__(self, pack_id: _Optional[str] = ..., servers: _Optional[_Iterable[_Union[PackServer, _Mapping]]] = ..., etag: _Optional[str] = ...) -> None: ...

class UpdatePackServerToolsRequest(_message.Message):
    __slots__ = ("pack_id", "server", "tool_settings", "etag")
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    TOOL_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    pack_id: str
    server: PackServer
    tool_settings: PackToolSettings
    etag: str
    def __init__(self, pack_id: _Optional[str] = ..., server: _Optional[_Union[PackServer, _Mapping]] = ..., tool_settings: _Optional[_Union[PackToolSettings, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class ListPackRevisionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "pack_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    pack_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., pack_id: _Optional[str] = ...) -> None: ...

class ListPackRevisionsResponse(_message.Message):
    __slots__ = ("revisions", "next_page_token", "total_size")
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    revisions: _containers.RepeatedCompositeFieldContainer[PackRevision]
    next_page_token: str
    total_size: int
    def __init__(self, revisions: _Optional[_Iterable[_Union[PackRevision, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetPackRevisionRequest(_message.Message):
    __slots__ = ("pack_id", "version")
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    pack_id: str
    version: int
    def __init__(self, pack_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class RestorePackRevisionRequest(_message.Message):
    __slots__ = ("pack_id", "version", "etag")
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    pack_id: str
    version: int
    etag: str
    def __init__(self, pack_id: _Optional[str] = ..., version: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...

class ResolvePackRequest(_message.Message):
    __slots__ = ("id", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: int
    def __init__(self, id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ResolvePackResponse(_message.Message):
    __slots__ = ("pack_id", "version", "tools", "excluded_tools", "setting_issues")
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_TOOLS_FIELD_NUMBER: _ClassVar[int]
    SETTING_ISSUES_FIELD_NUMBER: _ClassVar[int]
    pack_id: str
    version: int
    tools: _containers.RepeatedCompositeFieldContainer[ResolvedTool]
    excluded_tools: _containers.RepeatedCompositeFieldContainer[ExcludedTool]
    setting_issues: _containers.RepeatedCompositeFieldContainer[SettingIssue]
    def __init__(self, pack_id: _Optional[str] = ..., version: _Optional[int] = ..., tools: _Optional[_Iterable[_Union[ResolvedTool, _Mapping]]] = ..., excluded_tools: _Optional[_Iterable[_Union[ExcludedTool, _Mapping]]] = ..., setting_issues: _Optional[_Iterable[_Union[SettingIssue, _Mapping]]] = ...) -> None: ...

class ExportPackRequest(_message.Message):
    __slots__ = ("id", "version", "target")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    id: str
    version: int
    target: ExportTarget
    def __init__(self, id: _Optional[str] = ..., version: _Optional[int] = ..., target: _Optional[_Union[ExportTarget, str]] = ...) -> None: ...

class ExportPackResponse(_message.Message):
    __slots__ = ("pack_id", "version", "config_json", "servers", "placeholders")
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    PLACEHOLDERS_FIELD_NUMBER: _ClassVar[int]
    pack_id: str
    version: int
    config_json: str
    servers: _containers.RepeatedCompositeFieldContainer[ExportedServer]
    placeholders: _containers.RepeatedCompositeFieldContainer[ExportPlaceholder]
    def __init__(self, pack_id: _Optional[str] = ..., version: _Optional[int] = ..., config_json: _Optional[str] = ..., servers: _Optional[_Iterable[_Union[ExportedServer, _Mapping]]] = ..., placeholders: _Optional[_Iterable[_Union[ExportPlaceholder, _Mapping]]] = ...) -> None: ...
