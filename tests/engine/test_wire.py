"""The framing and message rules, on bytes in memory (no sockets)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instyle.wire import Limits, ProtocolError, check_array_spec, check_header, decode_message, encode_message
from instyle.wire.framing import MAGIC, PREFIX
from instyle.wire.messages import CLIENT_TYPES


def framed(header: dict, payloads=()) -> bytes:
    return b"".join(bytes(p) for p in encode_message(header, payloads))


def test_round_trip_keeps_header_and_payloads():
    header, payloads = decode_message(framed({"type": "ping", "id": 7}, [b"abc", b"", bytes(range(256))]))
    assert header == {"type": "ping", "id": 7}
    assert [bytes(p) for p in payloads] == [b"abc", b"", bytes(range(256))]


@pytest.mark.parametrize("data, code", [
    (b"NOPE" + bytes(12), "bad_message"),
    (PREFIX.pack(MAGIC, 9, 0, 0, 2, 0) + b"{}", "protocol_version"),
    (PREFIX.pack(MAGIC, 1, 0, 0, 2, 0) + b"{", "truncated"),
    (PREFIX.pack(MAGIC, 1, 0, 0, 2, 0) + b"[]", "bad_message"),
    (PREFIX.pack(MAGIC, 1, 0, 0, 3, 0) + b"NaN", "bad_message"),
    (PREFIX.pack(MAGIC, 1, 0, 0, 2, 0) + b"{}extra", "bad_message"),
])
def test_malformed_messages_are_rejected(data, code):
    with pytest.raises(ProtocolError) as err:
        decode_message(data)
    assert err.value.code == code


def test_absurd_lengths_are_refused_before_allocation():
    limits = Limits(max_header_bytes=1024, max_payloads=2, max_payload_bytes=1 << 20, max_message_bytes=2 << 20)
    huge_header = PREFIX.pack(MAGIC, 1, 0, 0, 2**32 - 1, 0)
    many_payloads = PREFIX.pack(MAGIC, 1, 0, 0, 2, 2**32 - 1)
    huge_payload = PREFIX.pack(MAGIC, 1, 0, 0, 2, 1) + struct.pack("!Q", 2**63)
    for data in (huge_header, many_payloads, huge_payload):
        with pytest.raises(ProtocolError) as err:
            decode_message(data, limits)
        assert err.value.code == "too_large"


def test_headers_need_their_fields():
    assert check_header({"type": "run", "id": 1, "source": {}, "pipeline": []}, CLIENT_TYPES) == "run"
    with pytest.raises(ProtocolError, match="'id'"):
        check_header({"type": "run", "id": True, "source": {}, "pipeline": []}, CLIENT_TYPES)
    with pytest.raises(ProtocolError, match="not one of"):
        check_header({"type": "shutdown"}, CLIENT_TYPES)


def test_array_specs_must_match_their_payload():
    assert check_array_spec({"dtype": "float32", "shape": [2, 3, 4], "payload": 0}, [96]).nbytes == 96
    for spec, sizes in [({"dtype": "float32", "shape": [2, 3, 4], "payload": 0}, [95]),
                        ({"dtype": "float64", "shape": [1], "payload": 0}, [8]),
                        ({"dtype": [2, 2, 3], "shape": [1], "payload": 0}, [1]),
                        ({"dtype": "uint8", "shape": [0, 3], "payload": 0}, [0]),
                        ({"dtype": "uint8", "shape": [100000, 3], "payload": 0}, [300000]),
                        ({"dtype": "uint8", "shape": [1], "payload": 1}, [1])]:
        with pytest.raises(ProtocolError):
            check_array_spec(spec, sizes)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_never_escape_as_anything_but_protocol_errors(data):
    try:
        decode_message(MAGIC + b"\x01" + data, Limits(max_header_bytes=4096, max_payloads=4,
                                                      max_payload_bytes=4096, max_message_bytes=8192))
    except ProtocolError:
        pass
