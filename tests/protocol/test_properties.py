"""Property-based tests: the codec holds for any payload and any chunking."""

from __future__ import annotations

from itertools import pairwise
import json
import string

from hypothesis import assume, given, settings, strategies as st

from custom_components.alphaess_local.protocol import (
    CorruptBytes,
    Frame,
    FrameDecoder,
    decode_message,
)
from custom_components.alphaess_local.protocol.codec.frame import CRC_SIZE, HEADER_SIZE
from custom_components.alphaess_local.protocol.codec.messages import (
    PayloadError,
    _fast_object,
    _reject_constant,
    _unique_pairs,
    parse_json_object,
)

CAP = 2048

frames = st.builds(
    Frame,
    kind=st.sampled_from([1, 2]),
    command=st.integers(0, 255),
    payload=st.binary(max_size=300),
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(edges)]


@given(st.lists(frames, max_size=8), st.lists(st.integers(0, 10_000), max_size=20))
def test_encode_decode_identity_under_any_chunking(
    sent: list[Frame], cuts: list[int]
) -> None:
    stream = b"".join(f.encode() for f in sent)
    decoder = FrameDecoder(max_payload=CAP)
    received: list[Frame | CorruptBytes] = []
    for chunk in chunked(stream, cuts):
        received += decoder.feed(chunk)
    assert received == sent
    assert decoder.buffered == 0


@given(st.lists(st.binary(max_size=600), max_size=12))
def test_random_bytes_never_raise_nor_grow_past_cap(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(max_payload=CAP)
    for chunk in chunks:
        for item in decoder.feed(chunk):
            if isinstance(item, Frame):
                decode_message(item)
        assert decoder.buffered <= HEADER_SIZE + CAP + CRC_SIZE + len(chunk)
    assert decoder.buffered <= HEADER_SIZE + CAP + CRC_SIZE


@settings(max_examples=200)
@given(
    st.lists(frames, min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=6),
)
def test_mutated_streams_resynchronise(
    sent: list[Frame], flips: list[tuple[int, int]]
) -> None:
    stream = bytearray(b"".join(f.encode() for f in sent))
    for where, value in flips:
        stream[where % len(stream)] = value
    decoder = FrameDecoder(max_payload=CAP)
    out = decoder.feed(bytes(stream))
    # A mutated length may hold the decoder waiting for up to CAP bytes, but good
    # frames sent after that are always found again, whatever came before them.
    tail = Frame(1, 16, b'{"end":true}').encode()
    repeats = 2 * CAP // len(tail) + 2
    out += decoder.feed(tail * repeats)
    assert out[-1] == Frame(1, 16, b'{"end":true}')
    total = sum(len(i.data) for i in out if isinstance(i, CorruptBytes))
    assert total <= len(stream) + repeats * len(tail)


@given(st.binary(max_size=400), st.integers(0, 255), st.sampled_from([1, 2]))
def test_decode_message_never_raises(payload: bytes, command: int, kind: int) -> None:
    decode_message(Frame(kind, command, payload))


json_values = st.one_of(
    st.sampled_from(
        ["", "0", "33.2", "-1", "false", "2021/03/24 10:00:00", "EventLog"]
    ),
    st.text(string.printable + "äé€😀\x00", max_size=12),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)


@given(
    st.sampled_from([0, 2, 3, 4, 5, 8, 9, 16]),
    st.dictionaries(
        st.sampled_from(["SN", "Time", "SOC", "Pbat", "X", "MsgType", "MsgContent"]),
        json_values,
        max_size=7,
    ),
)
def test_json_payloads_of_known_commands_never_raise(
    command: int, data: dict[str, object]
) -> None:
    decode_message(Frame(1, command, json.dumps(data).encode()))


@given(
    st.dictionaries(
        st.text(string.ascii_letters, min_size=1, max_size=8),
        st.one_of(
            st.text(string.printable, max_size=10),
            st.integers(-(2**60), 2**60),
            st.floats(allow_nan=False, allow_infinity=False),
            st.booleans(),
            st.none(),
        ),
        max_size=12,
    )
)
def test_fast_json_path_agrees_with_the_strict_parser(data: dict[str, object]) -> None:
    payload = json.dumps(data, separators=(",", ":")).encode()
    assert parse_json_object(payload) == json.loads(payload)


# Keys from a small set so that repeats are common; values that probe the colon count
# (colons, commas, quotes, backslashes, escapes in strings) and the numbers orjson reads
# differently (integers past 64 bits, integral floats).
_scalars = st.one_of(
    st.text(':,"\\{}[] aé\u2028', max_size=6),
    st.sampled_from(["0", "", "false", "2021/03/24 20:59:22", "a:b", "a,b"]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1, 1.0, True, 0, -0.0, False, 1e19, -9.3e18, 2**64]),
    st.booleans(),
    st.none(),
)
_members = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c:", "d,", "e\\", "é"]), _scalars),
    max_size=10,
)
_spaces = st.sampled_from(["", " ", "\n  ", "\t"])


def _strict(text: str) -> tuple[str, object]:
    try:
        value = json.loads(
            text, object_pairs_hook=_unique_pairs, parse_constant=_reject_constant
        )
    except PayloadError as err:
        return "refused", str(err)
    return "parsed", [(k, type(v), v) for k, v in value.items()]


@given(_members, _spaces, _spaces, st.booleans())
def test_fast_path_gives_the_strict_answer_including_repeated_keys(
    members: list[tuple[str, object]], before: str, after: str, ascii_only: bool
) -> None:
    text = (
        "{"
        + ",".join(
            f"{before}{json.dumps(k, ensure_ascii=ascii_only)}{after}:"
            f"{before}{json.dumps(v, ensure_ascii=ascii_only)}{after}"
            for k, v in members
        )
        + "}"
    )
    strict = _strict(text)
    fast = _fast_object(text.encode(), text)
    if fast is not None:
        assert strict == ("parsed", [(k, type(v), v) for k, v in fast.items()])
    assert _ours(text.encode()) == strict


def _ours(payload: bytes) -> tuple[str, object]:
    try:
        parsed = parse_json_object(payload)
    except PayloadError as err:
        return "refused", str(err)
    return "parsed", [(k, type(v), v) for k, v in parsed.items()]


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=12), _scalars)
def test_repeats_with_one_value_take_the_fast_path(
    keys: list[str], value: object
) -> None:
    literal = json.dumps(value)
    # A colon or escape in the value, a number orjson reads as a float, or more repeats
    # than the fast path checks itself: the strict parser's turn (the test above).
    assume(":" not in literal and "\\" not in literal)
    assume(type(value) in (str, bool) or value is None or abs(value) < 2**63)  # type: ignore[operator]
    assume(len(keys) - len(set(keys)) <= 8)
    text = "{" + ",".join(f'"{k}": {literal}' for k in keys) + "}"
    fast = _fast_object(text.encode(), text)
    assert fast == dict.fromkeys(keys, value)
