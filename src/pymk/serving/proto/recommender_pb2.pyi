from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecommendRequest(_message.Message):
    __slots__ = ("user_id", "k")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    k: int
    def __init__(self, user_id: _Optional[str] = ..., k: _Optional[int] = ...) -> None: ...

class RecommendBatchRequest(_message.Message):
    __slots__ = ("user_ids", "k")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    k: int
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ..., k: _Optional[int] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("user_id", "score", "reasons")
    class ReasonsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    score: float
    reasons: _containers.ScalarMap[str, float]
    def __init__(self, user_id: _Optional[str] = ..., score: _Optional[float] = ..., reasons: _Optional[_Mapping[str, float]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("error", "message")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    error: str
    message: str
    def __init__(self, error: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Recommendations(_message.Message):
    __slots__ = ("user_id", "model_version", "generated_at", "source", "items", "error", "request_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    model_version: str
    generated_at: str
    source: str
    items: _containers.RepeatedCompositeFieldContainer[Item]
    error: Error
    request_id: str
    def __init__(self, user_id: _Optional[str] = ..., model_version: _Optional[str] = ..., generated_at: _Optional[str] = ..., source: _Optional[str] = ..., items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RecommendBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[Recommendations]
    def __init__(self, results: _Optional[_Iterable[_Union[Recommendations, _Mapping]]] = ...) -> None: ...
