"""The straight-line record builders this library shipped until issue #29, for the
benchmark to time the table-driven ones (``codec/record_plans.py``) against.

Until then ``scripts/generate_builders.py`` (this file) wrote one plain function per
record type from the field declarations in records.py, each field's key, parser and
memo written out, and the module was committed. It was replaced by the plans, which
were measured within 1.3x of it (docs/performance.md); ``benchmarks.codec`` renders the
old builders from today's declarations with :func:`straight_line_builders` and prints
both, so the comparison stays reproducible as the records change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, fields
import re
import sys
from types import MethodType, ModuleType
from typing import Any, NamedTuple, cast

RECORD_TYPES = ("RealtimeRecord", "DetailedRecord", "SystemReport")
LINE_LENGTH = 88  # pyproject.toml, [tool.ruff]
INDENT = "    "

HEADER = '''\
"""Builders for the record types, one plain function each. Generated: do not edit.

Written by scripts/generate_builders.py from the field declarations in records.py.
After changing a record's fields, run ``.venv/bin/python scripts/generate_builders.py``;
tests/protocol/test_record_builders.py fails while this file is not what they produce.

Every realtime push and every history row is built here, so each field's key, parser
and memo is written out instead of looked up per key, and the record is filled through
its slots (:func:`records.slot_setter`). A builder hands back ``None`` for the rare
payload it leaves to the general loop, :func:`records.build_general` (both aliases of
one field present, values given for fields the payload fills); that loop is the
reference, and tests/protocol/test_messages.py holds the two equal on random payloads.

A float field's string is read by ``parse_float`` written out, its memo missed on
every new reading: ``x - x`` is 0.0 for a finite ``x``, NaN for an infinity or NaN.
The memo's bounds are written as numbers, as a global would cost a lookup each miss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final
'''

PREAMBLE = '''\
type Builder = Callable[[Mapping[str, object], Mapping[str, object]], object | None]
"""A record type's builder: ``(payload, known field values)`` → record or ``None``."""

_new: Final = object.__new__
'''

# What a builder is made of, as it is written out. Each field reads ``raw`` from the
# payload, types it as ``value`` (one of the *_READ forms), then keeps it.
BUILDER = '''\
def build_{prefix}(
    data: Mapping[str, object], known: Mapping[str, object]
) -> {name} | None:
    """Build a :class:`{name}`, or ``None``: the general loop's."""
    if {refused}:
        return None
    get = data.get
    record = _new({name})
    unread: list[str] = []
    raw: Any
    value: Any
{fields}\
    {extra}(record, unread_values(data, {wired}, unread))
    return record
'''
FLOAT_READ = """\
    if raw.__class__ is str:
        value = {memo}.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= {cached_length}:  # CACHED_LENGTH
                if len({memo}) >= {cache_limit}:  # CACHE_LIMIT
                    {memo}.clear()
                {memo}[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
"""
MEMO_READ = """\
    if raw.__class__ is str:
        value = {memo}[raw]
    elif raw is None:
        value = None
    else:
        value = {parse}(raw)
"""
PLAIN_READ = """\
    value = {parse}(raw)
"""
KEEP = """\
    if value is None and raw is not None and raw != "":
        unread.append({source})
    {setter}(record, value)
"""
# A field with two keys or more reads the first one present, unless a later one is
# present too: then payload order decides, and that is the general loop's business.
ALIAS = """\
    {branch} "{key}" in data:
        if {later}:
            return None
        key = "{key}"
        raw = data[key]
"""
LAST_ALIAS = """\
    else:
        key = "{key}"
        raw = get(key)
"""


class Parser(NamedTuple):
    """How the generated module names a parser, and imports it."""

    expression: str  # how the code calls it: ``parse_float``, ``settings.X.parse``
    module: str  # what it is imported from, relative: ``.values``, ``.``
    name: str  # the name imported from ``module``
    stem: str  # for the memo's name: ``FLOAT``, ``GRID_CHARGING``


def parser(parse: Callable[[object], Any], package: str) -> Parser:
    """Name ``parse``: a function of a protocol module, or a method of one's global."""
    if isinstance(parse, MethodType):
        owner = sys.modules[type(parse.__self__).__module__]
        found = [n for n, v in vars(owner).items() if v is parse.__self__]
        if not found or parse.__name__ != "parse":
            raise TypeError(f"cannot name {parse!r}: not a protocol global's parse")
        module = _relative(owner.__name__, package)
        return Parser(f"{module[1:]}.{found[0]}.parse", ".", module[1:], found[0])
    owner = sys.modules[parse.__module__]
    if getattr(owner, parse.__name__, None) is not parse:
        raise TypeError(f"cannot name {parse!r}: not a module-level function")
    stem = parse.__name__.removeprefix("parse_").upper()
    return Parser(
        parse.__name__, _relative(owner.__name__, package), parse.__name__, stem
    )


def _relative(module: str, package: str) -> str:
    if not module.startswith(f"{package}."):
        raise TypeError(f"{module} is outside the protocol package {package}")
    return "." + module.removeprefix(f"{package}.")


def snake(name: str) -> str:
    """``DetailedRecord`` → ``detailed_record``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _wrapped(head: str, inner: str, tail: str, indent: str = "") -> str:
    """``head inner tail`` on one line, or split inside the brackets as ruff does."""
    line = f"{indent}{head}{inner}{tail}"
    if len(line) <= LINE_LENGTH:
        return line
    return f"{indent}{head}\n{indent}{INDENT}{inner}\n{indent}{tail}"


def _frozenset(name: str, items: Sequence[str], comment: str) -> str:
    lines = [f"# {comment}", f"{name}: Final = frozenset(", f"{INDENT}{{"]
    lines += [f'{INDENT * 2}"{item}",' for item in items]
    return "\n".join([*lines, f"{INDENT}}}", ")"])


def _aliases(keys: tuple[str, ...]) -> str:
    *firsts, last = keys
    return "".join(
        ALIAS.format(
            branch="elif" if n else "if",
            key=key,
            later=" or ".join(f'"{k}" in data' for k in keys[n + 1 :]),
        )
        for n, key in enumerate(firsts)
    ) + LAST_ALIAS.format(key=last)


def _isort_key(name: str) -> tuple[int, str]:
    """Ruff's isort order inside one import: constants, classes, then the rest."""
    if name.isupper():
        return (0, name.lower())
    return (1 if name[:1].isupper() else 2, name.lower())


_LITERALS: dict[object, str] = {dict: "{}", list: "[]", tuple: "()"}


class Writer:
    """The generated module: the builders, and the imports and globals they use."""

    def __init__(self, records: ModuleType, types: Sequence[type]) -> None:
        """Write the builders of ``types``, record types of ``records``."""
        self.records = records
        self.package = records.__package__ or ""
        self.types = types
        self.imports: dict[str, set[str]] = {".records": {"unread_values"}}
        self.memos: dict[str, str] = {}  # the memo's name → its parser's expression
        self.setters: dict[str, str] = {}  # the setter's name → its definition
        self.constants: list[str] = []
        self.builders = [self.builder(cls) for cls in types]

    def _need(self, module: str, *names: str) -> None:
        self.imports.setdefault(module, set()).update(names)

    def builder(self, cls: type) -> str:
        """The builder of ``cls``; the globals it uses are collected on the way."""
        name, prefix = cls.__name__, snake(cls.__name__)
        self._need(".records", name)
        wired: list[str] = []
        given: list[str] = []
        blocks: list[str] = []
        extra = ""
        for declared in fields(cls):
            setter = self._setter(cls, declared.name)
            wiring = self.records.wiring(declared)
            if wiring is not None:
                keys, parse = wiring
                wired += keys
                blocks.append(self._read(declared, keys, parse, setter))
            elif declared.name == "extra":
                extra = setter
            else:
                given.append(declared.name)
                blocks.append(self._given(declared, setter))
        if not extra:
            raise TypeError(f"{name} has no extra field")
        wired_name = f"_{prefix.upper()}_WIRED"
        self.constants.append(
            _frozenset(wired_name, wired, f"The payload keys a {name} reads.")
        )
        refused = "known"
        if given:
            given_name = f"_{prefix.upper()}_GIVEN"
            comment = f"The fields of a {name} that are given, not read."
            self.constants.append(_frozenset(given_name, given, comment))
            refused = f"known and not known.keys() <= {given_name}"
        return BUILDER.format(
            prefix=prefix,
            name=name,
            refused=refused,
            fields="".join(blocks),
            extra=extra,
            wired=wired_name,
        )

    def _setter(self, cls: type, name: str) -> str:
        owner = next(c for c in cls.__mro__ if name in vars(c))
        setter = f"_set_{snake(owner.__name__)}_{name}"
        if setter not in self.setters:
            self._need(".records", owner.__name__, "slot_setter")
            self.setters[setter] = _wrapped(
                f"{setter}: Final = slot_setter(", f'{owner.__name__}, "{name}"', ")"
            )
        return setter

    def _given(self, declared: Field[Any], setter: str) -> str:
        """A field the payload does not fill: given in ``known``, or its default."""
        if declared.default_factory in _LITERALS:
            default = _LITERALS[declared.default_factory]
            value = f'known.get("{declared.name}", {default})'
        elif declared.default is None:
            default = "None"
            value = f'known.get("{declared.name}")'
        else:
            raise TypeError(f"{declared.name}: no default the generator can write")
        comment = f"{INDENT}# {declared.name}: {declared.type}, given or {default}"
        call = _wrapped(f"{setter}(", f"record, {value}", ")", INDENT)
        return f"{comment}\n{call}\n"

    def _read(
        self,
        declared: Field[Any],
        keys: tuple[str, ...],
        parse: Callable[[object], Any],
        setter: str,
    ) -> str:
        """A field read from the payload: its key(s), its parser, its memo."""
        named = parser(parse, self.package)
        self._need(named.module, named.name)
        quoted = " or ".join(f'"{key}"' for key in keys)
        code = f"{INDENT}# {declared.name}: {declared.type}, from {quoted}\n"
        if len(keys) == 1:
            source = f'"{keys[0]}"'
            code += f"{INDENT}raw = get({source})\n"
        else:
            source = "key"
            code += _aliases(keys)
        memo = f"_{named.stem}_MEMO"
        if parse in self.records.UNCACHED:
            code += PLAIN_READ.format(parse=named.expression)
        elif parse(None) is not None:  # the *_READ forms read None as None
            raise TypeError(f"{named.expression} reads None as a value")
        elif parse is self.records.parse_float:
            self.memos[memo] = named.expression
            self._need(".records", "memo", "UNSEEN")
            code += FLOAT_READ.format(
                memo=memo,
                cached_length=self.records.CACHED_LENGTH,
                cache_limit=self.records.CACHE_LIMIT,
            )
        else:
            self.memos[memo] = named.expression
            self._need(".records", "memo")
            code += MEMO_READ.format(memo=memo, parse=named.expression)
        return code + KEEP.format(source=source, setter=setter)

    def module(self) -> str:
        """The whole module's text, checked for over-long lines."""
        imports = []
        for module in sorted(self.imports, key=lambda m: (m != ".", m)):
            names = sorted(self.imports[module], key=_isort_key)
            line = f"from {module} import {', '.join(names)}"
            if len(line) > LINE_LENGTH:  # then ruff puts one name a line
                listed = [f"{INDENT}{n}," for n in names]
                line = "\n".join([f"from {module} import (", *listed, ")"])
            imports.append(line)
        memos = [
            _wrapped(f"{memo}: Final = memo(", expression, ")")
            for memo, expression in sorted(self.memos.items())
        ]
        table = [
            f"{INDENT}{t.__name__}: build_{snake(t.__name__)}," for t in self.types
        ]
        blocks = [
            HEADER.rstrip("\n"),
            "\n".join(imports),
            PREAMBLE.rstrip("\n"),
            "\n".join(["# Each parser's memo, shared with the general loop.", *memos]),
            "\n".join(["# What sets each field.", *self.setters.values()]),
            *self.constants,
            *(f"\n{builder.rstrip()}" for builder in self.builders),
            "\n".join(["\nBUILDERS: Final[Mapping[type, Builder]] = {", *table, "}"]),
        ]
        text = "\n\n".join(blocks) + "\n"
        long = [line for line in text.splitlines() if len(line) > LINE_LENGTH]
        if long:
            raise ValueError(f"lines longer than {LINE_LENGTH}: {long}")
        return text


def render(records: ModuleType) -> str:
    """The text of record_builders.py for the record types of ``records``."""
    return Writer(records, [getattr(records, n) for n in RECORD_TYPES]).module()


def straight_line_builders(records: ModuleType) -> Mapping[type, Any]:
    """The generated builders of ``records``'s record types, as a module beside it.

    Written as text and run with ``exec``, as the library did before issue #21: here it
    only feeds the benchmark, and the library itself writes no code at run time.
    """
    package = records.__package__ or ""
    module = ModuleType(f"{package}._straight_line")
    module.__package__ = package
    code = compile(render(records), "<straight-line builders>", "exec")
    exec(code, module.__dict__)  # noqa: S102
    return cast(Mapping[type, Any], module.BUILDERS)
