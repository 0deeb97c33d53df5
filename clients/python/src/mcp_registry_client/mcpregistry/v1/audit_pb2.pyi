import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditResourceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_RESOURCE_TYPE_UNSPECIFIED: _ClassVar[AuditResourceType]
    AUDIT_RESOURCE_TYPE_MCP_SERVER: _ClassVar[AuditResourceType]
    AUDIT_RESOURCE_TYPE_PACK: _ClassVar[AuditResourceType]
    AUDIT_RESOURCE_TYPE_ORGANIZATION: _ClassVar[AuditResourceType]
    AUDIT_RESOURCE_TYPE_API_KEY: _ClassVar[AuditResourceType]
    AUDIT_RESOURCE_TYPE_SECRET: _ClassVar[AuditResourceType]

class ToolCallOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOOL_CALL_OUTCOME_UNSPECIFIED: _ClassVar[ToolCallOutcome]
    TOOL_CALL_OUTCOME_OK: _ClassVar[ToolCallOutcome]
    TOOL_CALL_OUTCOME_ERROR: _ClassVar[ToolCallOutcome]
    TOOL_CALL_OUTCOME_REFUSED: _ClassVar[ToolCallOutcome]
AUDIT_RESOURCE_TYPE_UNSPECIFIED: AuditResourceType
AUDIT_RESOURCE_TYPE_MCP_SERVER: AuditResourceType
AUDIT_RESOURCE_TYPE_PACK: AuditResourceType
AUDIT_RESOURCE_TYPE_ORGANIZATION: AuditResourceType
AUDIT_RESOURCE_TYPE_API_KEY: AuditResourceType
AUDIT_RESOURCE_TYPE_SECRET: AuditResourceType
TOOL_CALL_OUTCOME_UNSPECIFIED: ToolCallOutcome
TOOL_CALL_OUTCOME_OK: ToolCallOutcome
TOOL_CALL_OUTCOME_ERROR: ToolCallOutcome
TOOL_CALL_OUTCOME_REFUSED: ToolCallOutcome

class AuditChange(_message.Message):
    __slots__ = ("field", "old_value", "new_value", "secret")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUE_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    field: str
    old_value: _struct_pb2.Value
    new_value: _struct_pb2.Value
    secret: bool
    def __init__(self, field: _Optional[str] = ..., old_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., new_value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., secret: _Optional[bool] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("id", "organization_id", "time", "actor", "request_id", "action", "resource_type", "resource_id", "changes", "actor_subject")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    ACTOR_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    id: str
    organization_id: str
    time: _timestamp_pb2.Timestamp
    actor: str
    request_id: str
    action: str
    resource_type: AuditResourceType
    resource_id: str
    changes: _containers.RepeatedCompositeFieldContainer[AuditChange]
    actor_subject: str
    def __init__(self, id: _Optional[str] = ..., organization_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., request_id: _Optional[str] = ..., action: _Optional[str] = ..., resource_type: _Optional[_Union[AuditResourceType, str]] = ..., resource_id: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[AuditChange, _Mapping]]] = ..., actor_subject: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "organization_id", "resource_type", "resource_id", "actor", "action", "start", "end")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    organization_id: str
    resource_type: AuditResourceType
    resource_id: str
    actor: str
    action: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., organization_id: _Optional[str] = ..., resource_type: _Optional[_Union[AuditResourceType, str]] = ..., resource_id: _Optional[str] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ToolCall(_message.Message):
    __slots__ = ("id", "organization_id", "time", "key_id", "pack_id", "pack_version", "server_id", "tool_name", "called_name", "outcome", "detail", "duration_micros", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    PACK_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    CALLED_NAME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    DURATION_MICROS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    organization_id: str
    time: _timestamp_pb2.Timestamp
    key_id: str
    pack_id: str
    pack_version: int
    server_id: str
    tool_name: str
    called_name: str
    outcome: ToolCallOutcome
    detail: str
    duration_micros: int
    request_id: str
    def __init__(self, id: _Optional[str] = ..., organization_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_id: _Optional[str] = ..., pack_id: _Optional[str] = ..., pack_version: _Optional[int] = ..., server_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., called_name: _Optional[str] = ..., outcome: _Optional[_Union[ToolCallOutcome, str]] = ..., detail: _Optional[str] = ..., duration_micros: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListToolCallsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "organization_id", "pack_id", "server_id", "key_id", "outcome", "start", "end")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    PACK_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    organization_id: str
    pack_id: str
    server_id: str
    key_id: str
    outcome: ToolCallOutcome
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., organization_id: _Optional[str] = ..., pack_id: _Optional[str] = ..., server_id: _Optional[str] = ..., key_id: _Optional[str] = ..., outcome: _Optional[_Union[ToolCallOutcome, str]] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListToolCallsResponse(_message.Message):
    __slots__ = ("tool_calls", "next_page_token")
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    next_page_token: str
    def __init__(self, tool_calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
