"""The one place where store objects meet protobuf (proto/objects.proto, proto/store.proto).

The proto messages mirror the dataclasses field for field, with the same names, so the
conversion is derived from the dataclasses' type hints once per class and cached as a list of
small per-field converters. Building a plan checks that both sides have exactly the same
fields, so a field added on one side only fails the first conversion (and the codec tests)
instead of being silently dropped.

Mapping of Python types to proto:
  str, int, bool, float, bytes    -> the scalar; `X | None` -> proto3 `optional X`
  enum (str values)               -> string (the Docker API's lowercase value)
  IntEnum (TaskState)             -> the proto enum with the same numbers
  datetime (UTC) / timedelta      -> google.protobuf.Timestamp / Duration
  a dataclass, `D | None`         -> a message field of the same message name (None: unset)
  a union of dataclasses          -> a oneof of the field's name, chosen by message name
  tuple[X, ...] / Mapping[str, str] -> repeated X / map<string, string>
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar, cast

from google.protobuf.message import DecodeError, Message

from manager.store.batch import StoreBatch, StoreSnapshot
from manager.store.errors import CodecError
from manager.store.objects import StoreObject
from proto import objects_pb2, store_pb2

T = TypeVar("T")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _Field(Protocol):
    """What the codec reads of a protobuf field descriptor (pure-Python or upb)."""

    @property
    def name(self) -> str: ...

    @property
    def full_name(self) -> str: ...

    @property
    def message_type(self) -> _Named | None: ...


_Encode = Callable[[object, Message], None]
_Decode = Callable[[Message], object]


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    message: type[Message]
    fields: tuple[tuple[str, _Encode, _Decode], ...]


_plans: dict[type, _Plan] = {}


def _message_class(name: str) -> type[Message]:
    for module in (store_pb2, objects_pb2):
        found: object = getattr(module, name, None)
        if isinstance(found, type) and issubclass(found, Message):
            return found
    raise TypeError(f"no protobuf message {name!r} in proto/objects.proto or proto/store.proto")


def _plan(cls: type) -> _Plan:
    plan = _plans.get(cls)
    if plan is None:
        plan = _plans[cls] = _build_plan(cls)
    return plan


def _build_plan(cls: type) -> _Plan:
    message = _message_class(cls.__name__)
    desc = message.DESCRIPTOR
    hints = typing.get_type_hints(cls)
    covered: set[str] = set()
    converters: list[tuple[str, _Encode, _Decode]] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if _is_dataclass_union(hint):
            oneof = desc.oneofs_by_name.get(f.name)
            if oneof is None:
                raise TypeError(f"{desc.full_name} has no oneof {f.name!r} for {cls.__name__}")
            covered.update(fd.name for fd in oneof.fields)
            converters.append((f.name, *_oneof_converters(f.name, hint, oneof.fields)))
            continue
        fd = desc.fields_by_name.get(f.name)
        if fd is None:
            raise TypeError(f"{desc.full_name} has no field {f.name!r} for {cls.__name__}")
        covered.add(f.name)
        converters.append((f.name, *_field_converters(fd, hint)))
    extra = set(desc.fields_by_name) - covered
    if extra:
        raise TypeError(f"{desc.full_name} fields {sorted(extra)} missing from {cls.__name__}")
    return _Plan(message, tuple(converters))


def _is_dataclass_union(hint: object) -> bool:
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else ()
    return len(args) > 1 and all(dataclasses.is_dataclass(a) for a in args)


def _optional_arg(hint: object) -> object | None:
    """X for `X | None`, else None."""
    if isinstance(hint, types.UnionType):
        args: list[object] = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0]
    return None


def _field_converters(fd: _Field, hint: object) -> tuple[_Encode, _Decode]:
    name = fd.name
    inner = _optional_arg(hint)
    if inner is not None:
        enc_value, dec_value = _value_converters(fd, inner)

        def enc_opt(value: object, msg: Message) -> None:
            if value is not None:
                enc_value(value, msg)

        def dec_opt(msg: Message) -> object:
            return dec_value(msg) if msg.HasField(name) else None

        return enc_opt, dec_opt
    if typing.get_origin(hint) is tuple:
        return _repeated_converters(fd, typing.get_args(hint)[0])
    if typing.get_origin(hint) is Mapping:

        def enc_map(value: object, msg: Message) -> None:
            getattr(msg, name).update(cast(Mapping[str, str], value))

        def dec_map(msg: Message) -> object:
            return dict(getattr(msg, name))

        return enc_map, dec_map
    return _value_converters(fd, hint)


def _value_converters(fd: _Field, hint: object) -> tuple[_Encode, _Decode]:
    """A single (non-repeated) value of type `hint` in field `fd`."""
    name = fd.name
    if hint is datetime:

        def enc_time(value: object, msg: Message) -> None:
            getattr(msg, name).FromDatetime(cast(datetime, value))

        def dec_time(msg: Message) -> object:
            return getattr(msg, name).ToDatetime(tzinfo=UTC)

        return enc_time, dec_time
    if hint is timedelta:

        def enc_duration(value: object, msg: Message) -> None:
            getattr(msg, name).FromTimedelta(cast(timedelta, value))

        def dec_duration(msg: Message) -> object:
            return getattr(msg, name).ToTimedelta()

        return enc_duration, dec_duration
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        nested: type = hint
        _check_message(fd, nested)

        def enc_message(value: object, msg: Message) -> None:
            sub: Message = getattr(msg, name)
            sub.SetInParent()  # an empty message (GlobalService) is still "set"
            _encode_into(value, sub)

        def dec_message(msg: Message) -> object:
            return _decode_from(nested, getattr(msg, name))

        return enc_message, dec_message
    to_wire, from_wire = _scalar_converters(hint)

    def enc_scalar(value: object, msg: Message) -> None:
        setattr(msg, name, to_wire(value))

    def dec_scalar(msg: Message) -> object:
        return from_wire(getattr(msg, name))

    return enc_scalar, dec_scalar


def _scalar_converters(
    hint: object,
) -> tuple[Callable[[object], object], Callable[[object], object]]:
    if isinstance(hint, type) and issubclass(hint, enum.IntEnum):
        int_enum: type[enum.IntEnum] = hint
        return (lambda v: int(cast(enum.IntEnum, v))), (lambda w: int_enum(cast(int, w)))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        str_enum: type[enum.Enum] = hint
        return (lambda v: cast(enum.Enum, v).value), (lambda w: str_enum(w))
    if hint in (str, int, bool, float, bytes):
        return (lambda v: v), (lambda w: w)
    raise TypeError(f"the store codec cannot convert values of type {hint!r}")


def _repeated_converters(fd: _Field, item: object) -> tuple[_Encode, _Decode]:
    name = fd.name
    if isinstance(item, type) and dataclasses.is_dataclass(item):
        nested: type = item
        _check_message(fd, nested)

        def enc_messages(value: object, msg: Message) -> None:
            repeated = getattr(msg, name)
            for v in cast(tuple[object, ...], value):
                _encode_into(v, repeated.add())

        def dec_messages(msg: Message) -> object:
            return tuple(_decode_from(nested, m) for m in getattr(msg, name))

        return enc_messages, dec_messages
    to_wire, from_wire = _scalar_converters(item)

    def enc_scalars(value: object, msg: Message) -> None:
        getattr(msg, name).extend(to_wire(v) for v in cast(tuple[object, ...], value))

    def dec_scalars(msg: Message) -> object:
        return tuple(from_wire(w) for w in getattr(msg, name))

    return enc_scalars, dec_scalars


def _oneof_converters(
    name: str, hint: object, members: typing.Sequence[_Field]
) -> tuple[_Encode, _Decode]:
    by_message = {fd.message_type.name: fd.name for fd in members if fd.message_type}
    classes: dict[str, type] = {}
    field_of: dict[type, str] = {}
    for cls in typing.get_args(hint):
        if cls.__name__ not in by_message:
            raise TypeError(f"oneof {name!r} has no member of message type {cls.__name__}")
        field_of[cls] = by_message[cls.__name__]
        classes[by_message[cls.__name__]] = cls

    def enc_oneof(value: object, msg: Message) -> None:
        sub: Message = getattr(msg, field_of[type(value)])
        sub.SetInParent()
        _encode_into(value, sub)

    def dec_oneof(msg: Message) -> object:
        which = msg.WhichOneof(name)
        if which is None:
            raise CodecError(f"{msg.DESCRIPTOR.name}.{name} is not set")
        return _decode_from(classes[which], getattr(msg, which))

    return enc_oneof, dec_oneof


def _check_message(fd: _Field, cls: type) -> None:
    if fd.message_type is None or fd.message_type.name != cls.__name__:
        raise TypeError(f"field {fd.full_name} should be a message {cls.__name__}")


def _encode_into(obj: object, msg: Message) -> None:
    for name, enc, _ in _plan(type(obj)).fields:
        enc(getattr(obj, name), msg)


def _decode_from(cls: type[T], msg: Message) -> T:
    plan = _plan(cls)
    return cls(**{name: dec(msg) for name, _, dec in plan.fields})


# -- public API --------------------------------------------------------------------------------


def to_message(obj: object) -> Message:
    """The protobuf message for a store dataclass (an object, a spec, a batch, a snapshot)."""
    msg = _plan(type(obj)).message()
    _encode_into(obj, msg)
    return msg


def from_message(cls: type[T], msg: Message) -> T:
    if msg.DESCRIPTOR.name != cls.__name__:
        raise CodecError(f"cannot read a {cls.__name__} from a {msg.DESCRIPTOR.name} message")
    return _decode_from(cls, msg)


def encode(obj: object) -> bytes:
    """Deterministic bytes (map entries sorted): equal objects give equal bytes everywhere."""
    return to_message(obj).SerializeToString(deterministic=True)


def decode(cls: type[T], data: bytes) -> T:
    plan = _plan(cls)
    msg = plan.message()
    try:
        msg.ParseFromString(data)
        return _decode_from(cls, msg)
    except (DecodeError, ValueError) as e:
        raise CodecError(f"cannot decode a {cls.__name__} ({len(data)} bytes): {e}") from e


def encode_batch(batch: StoreBatch) -> bytes:
    return encode(batch)


def decode_batch(data: bytes) -> StoreBatch:
    return decode(StoreBatch, data)


def encode_snapshot(snapshot: StoreSnapshot) -> bytes:
    return encode(snapshot)


def decode_snapshot(data: bytes) -> StoreSnapshot:
    return decode(StoreSnapshot, data)


def encode_object(obj: StoreObject) -> bytes:
    return encode(obj)


def decode_object(cls: type[T], data: bytes) -> T:
    return decode(cls, data)
