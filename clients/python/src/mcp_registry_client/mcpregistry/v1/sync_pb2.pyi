import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mcp_registry_client.mcpregistry.v1 import mcp_server_pb2 as _mcp_server_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SyncTrigger(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYNC_TRIGGER_UNSPECIFIED: _ClassVar[SyncTrigger]
    SYNC_TRIGGER_CREATED: _ClassVar[SyncTrigger]
    SYNC_TRIGGER_UPDATED: _ClassVar[SyncTrigger]
    SYNC_TRIGGER_SCHEDULED: _ClassVar[SyncTrigger]
    SYNC_TRIGGER_MANUAL: _ClassVar[SyncTrigger]
    SYNC_TRIGGER_LIST_CHANGED: _ClassVar[SyncTrigger]

class SyncOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYNC_OUTCOME_UNSPECIFIED: _ClassVar[SyncOutcome]
    SYNC_OUTCOME_RUNNING: _ClassVar[SyncOutcome]
    SYNC_OUTCOME_SUCCEEDED: _ClassVar[SyncOutcome]
    SYNC_OUTCOME_FAILED: _ClassVar[SyncOutcome]

class CapabilityOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAPABILITY_OUTCOME_UNSPECIFIED: _ClassVar[CapabilityOutcome]
    CAPABILITY_OUTCOME_OK: _ClassVar[CapabilityOutcome]
    CAPABILITY_OUTCOME_FAILED: _ClassVar[CapabilityOutcome]
    CAPABILITY_OUTCOME_NOT_SUPPORTED: _ClassVar[CapabilityOutcome]
    CAPABILITY_OUTCOME_SKIPPED: _ClassVar[CapabilityOutcome]

class SyncEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYNC_EVENT_KIND_UNSPECIFIED: _ClassVar[SyncEventKind]
    SYNC_EVENT_KIND_STARTED: _ClassVar[SyncEventKind]
    SYNC_EVENT_KIND_SUCCEEDED: _ClassVar[SyncEventKind]
    SYNC_EVENT_KIND_FAILED: _ClassVar[SyncEventKind]
    SYNC_EVENT_KIND_EVENTS_MISSED: _ClassVar[SyncEventKind]
SYNC_TRIGGER_UNSPECIFIED: SyncTrigger
SYNC_TRIGGER_CREATED: SyncTrigger
SYNC_TRIGGER_UPDATED: SyncTrigger
SYNC_TRIGGER_SCHEDULED: SyncTrigger
SYNC_TRIGGER_MANUAL: SyncTrigger
SYNC_TRIGGER_LIST_CHANGED: SyncTrigger
SYNC_OUTCOME_UNSPECIFIED: SyncOutcome
SYNC_OUTCOME_RUNNING: SyncOutcome
SYNC_OUTCOME_SUCCEEDED: SyncOutcome
SYNC_OUTCOME_FAILED: SyncOutcome
CAPABILITY_OUTCOME_UNSPECIFIED: CapabilityOutcome
CAPABILITY_OUTCOME_OK: CapabilityOutcome
CAPABILITY_OUTCOME_FAILED: CapabilityOutcome
CAPABILITY_OUTCOME_NOT_SUPPORTED: CapabilityOutcome
CAPABILITY_OUTCOME_SKIPPED: CapabilityOutcome
SYNC_EVENT_KIND_UNSPECIFIED: SyncEventKind
SYNC_EVENT_KIND_STARTED: SyncEventKind
SYNC_EVENT_KIND_SUCCEEDED: SyncEventKind
SYNC_EVENT_KIND_FAILED: SyncEventKind
SYNC_EVENT_KIND_EVENTS_MISSED: SyncEventKind

class SyncRun(_message.Message):
    __slots__ = ("id", "server_id", "server_name", "trigger", "started_at", "finished_at", "outcome", "transport", "protocol_version", "tools", "prompts", "resources", "resource_templates", "changes", "error", "instance_id", "discovered_tools")
    ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_NAME_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    DISCOVERED_TOOLS_FIELD_NUMBER: _ClassVar[int]
    id: str
    server_id: str
    server_name: str
    trigger: SyncTrigger
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    outcome: SyncOutcome
    transport: _mcp_server_pb2.Transport
    protocol_version: str
    tools: CapabilityResult
    prompts: CapabilityResult
    resources: CapabilityResult
    resource_templates: CapabilityResult
    changes: SyncChanges
    error: _mcp_server_pb2.SyncError
    instance_id: str
    discovered_tools: _containers.RepeatedCompositeFieldContainer[ToolSummary]
    def __init__(self, id: _Optional[str] = ..., server_id: _Optional[str] = ..., server_name: _Optional[str] = ..., trigger: _Optional[_Union[SyncTrigger, str]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[_Union[SyncOutcome, str]] = ..., transport: _Optional[_Union[_mcp_server_pb2.Transport, str]] = ..., protocol_version: _Optional[str] = ..., tools: _Optional[_Union[CapabilityResult, _Mapping]] = ..., prompts: _Optional[_Union[CapabilityResult, _Mapping]] = ..., resources: _Optional[_Union[CapabilityResult, _Mapping]] = ..., resource_templates: _Optional[_Union[CapabilityResult, _Mapping]] = ..., changes: _Optional[_Union[SyncChanges, _Mapping]] = ..., error: _Optional[_Union[_mcp_server_pb2.SyncError, _Mapping]] = ..., instance_id: _Optional[str] = ..., discovered_tools: _Optional[_Iterable[_Union[ToolSummary, _Mapping]]] = ...) -> None: ...

class ToolSummary(_message.Message):
    __slots__ = ("name", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CapabilityResult(_message.Message):
    __slots__ = ("outcome", "count", "pages", "error_message")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    outcome: CapabilityOutcome
    count: int
    pages: int
    error_message: str
    def __init__(self, outcome: _Optional[_Union[CapabilityOutcome, str]] = ..., count: _Optional[int] = ..., pages: _Optional[int] = ..., error_message: _Optional[str] = ...) -> None: ...

class SyncChanges(_message.Message):
    __slots__ = ("tools_added", "tools_removed", "tools_changed", "tools_unapproved")
    TOOLS_ADDED_FIELD_NUMBER: _ClassVar[int]
    TOOLS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    TOOLS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    TOOLS_UNAPPROVED_FIELD_NUMBER: _ClassVar[int]
    tools_added: _containers.RepeatedScalarFieldContainer[str]
    tools_removed: _containers.RepeatedScalarFieldContainer[str]
    tools_changed: _containers.RepeatedScalarFieldContainer[str]
    tools_unapproved: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tools_added: _Optional[_Iterable[str]] = ..., tools_removed: _Optional[_Iterable[str]] = ..., tools_changed: _Optional[_Iterable[str]] = ..., tools_unapproved: _Optional[_Iterable[str]] = ...) -> None: ...

class SyncEvent(_message.Message):
    __slots__ = ("kind", "server_id", "run", "occurred_at", "missed_count")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    MISSED_COUNT_FIELD_NUMBER: _ClassVar[int]
    kind: SyncEventKind
    server_id: str
    run: SyncRun
    occurred_at: _timestamp_pb2.Timestamp
    missed_count: int
    def __init__(self, kind: _Optional[_Union[SyncEventKind, str]] = ..., server_id: _Optional[str] = ..., run: _Optional[_Union[SyncRun, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., missed_count: _Optional[int] = ...) -> None: ...

class SyncMcpServerRequest(_message.Message):
    __slots__ = ("id", "include_tools")
    ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TOOLS_FIELD_NUMBER: _ClassVar[int]
    id: str
    include_tools: bool
    def __init__(self, id: _Optional[str] = ..., include_tools: _Optional[bool] = ...) -> None: ...

class GetSyncRunRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListSyncRunsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "server_id", "outcomes", "started_after", "started_before")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    STARTED_AFTER_FIELD_NUMBER: _ClassVar[int]
    STARTED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    server_id: str
    outcomes: _containers.RepeatedScalarFieldContainer[SyncOutcome]
    started_after: _timestamp_pb2.Timestamp
    started_before: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., server_id: _Optional[str] = ..., outcomes: _Optional[_Iterable[_Union[SyncOutcome, str]]] = ..., started_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSyncRunsResponse(_message.Message):
    __slots__ = ("sync_runs", "next_page_token", "total_size")
    SYNC_RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    sync_runs: _containers.RepeatedCompositeFieldContainer[SyncRun]
    next_page_token: str
    total_size: int
    def __init__(self, sync_runs: _Optional[_Iterable[_Union[SyncRun, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class WatchSyncEventsRequest(_message.Message):
    __slots__ = ("server_id",)
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    def __init__(self, server_id: _Optional[str] = ...) -> None: ...
