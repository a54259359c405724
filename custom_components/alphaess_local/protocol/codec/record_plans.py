"""Each record type's plan: a tuple per field from ``wire()``, and one loop to follow it.

The plans are made from the field declarations when this module is imported, and
every realtime push and every history row is built by one. A plan holds what the
general loop (:func:`records.build_general`, the reference) looks up key by key: the
payload key, the field's slot setter, its parser and the parser's memo. A builder hands
back ``None`` for the rare payload it leaves to the general loop (two aliases of one
field present, values given for fields the payload fills);
tests/protocol/test_messages.py holds the two equal on random payloads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from typing import Any, Final

from .records import (
    UNCACHED,
    DetailedRecord,
    RealtimeRecord,
    SystemReport,
    memo,
    slot_setter,
    unread_values,
    wiring,
)

type Builder = Callable[[Mapping[str, object], Mapping[str, object]], object | None]
"""A record type's builder: ``(payload, known field values)`` → record or ``None``."""

type _Setter = Callable[[object, object], None]
# One wired field: its key (``None`` when it has aliases), its keys, what sets it, its
# parser's memo (``None`` for a parser whose answers are not kept) and its parser.
type _Read = tuple[
    str | None,
    tuple[str, ...],
    _Setter,
    Mapping[object, Any] | None,
    Callable[..., Any],
]
# One field the payload does not fill: its name, what sets it, its default's factory.
type _Given = tuple[str, _Setter, Callable[[], object]]

_new: Final[Callable[[type], object]] = object.__new__


def _none() -> None:
    return None


def plan(cls: type) -> Builder:
    """The builder of record type ``cls``, planned from its field declarations."""
    reads: list[_Read] = []
    given: list[_Given] = []
    wired: list[str] = []
    set_extra: _Setter | None = None
    for declared in fields(cls):
        setter = slot_setter(cls, declared.name)
        wired_as = wiring(declared)
        if wired_as is not None:
            keys, parse = wired_as
            cache = None if parse in UNCACHED else memo(parse)
            if cache is not None and parse(None) is not None:
                raise TypeError(f"{declared.name}: its parser reads None as a value")
            reads.append(
                (keys[0] if len(keys) == 1 else None, keys, setter, cache, parse)
            )
            wired += keys
        elif declared.name == "extra":
            set_extra = setter
        elif declared.default_factory is not MISSING:
            given.append((declared.name, setter, declared.default_factory))
        elif declared.default is None:
            given.append((declared.name, setter, _none))
        else:
            raise TypeError(f"{declared.name}: neither wired nor defaulted")
    if set_extra is None:
        raise TypeError(f"{cls.__name__} has no extra field")
    return _builder(cls, tuple(reads), tuple(given), frozenset(wired), set_extra)


def _builder(
    cls: type,
    reads: tuple[_Read, ...],
    given: tuple[_Given, ...],
    wired: frozenset[str],
    set_extra: _Setter,
) -> Builder:
    given_names = frozenset(name for name, _, _ in given)

    def build(data: Mapping[str, object], known: Mapping[str, object]) -> object | None:
        if known and not known.keys() <= given_names:
            return None
        get = data.get
        record: object = _new(cls)
        unread: list[str] = []
        for only, keys, setter, cache, parse in reads:
            key = only
            if key is None:  # aliases: the one present, or payload order decides
                present = [k for k in keys if k in data]
                if len(present) > 1:
                    return None
                key = present[0] if present else keys[-1]
            raw = get(key)
            if cache is None:
                value = parse(raw)
            elif raw.__class__ is str:
                value = cache[raw]
            elif raw is None:
                value = None
            else:
                value = parse(raw)
            if value is None and raw is not None and raw != "":
                unread.append(key)
            setter(record, value)
        for name, setter, default in given:
            setter(record, known[name] if name in known else default())
        set_extra(record, unread_values(data, wired, unread))
        return record

    build.__name__ = build.__qualname__ = f"build_{cls.__name__}"
    build.__doc__ = f"Build a :class:`{cls.__name__}`, or ``None``: the general loop's."
    return build


BUILDERS: Final[Mapping[type, Builder]] = {
    cls: plan(cls) for cls in (RealtimeRecord, DetailedRecord, SystemReport)
}
