"""The framing and message rules, on bytes in memory (no sockets)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instyle.wire import (InstyleError, Limits, ProtocolError, check_array_spec, check_header, decode_message,
                          encode_message, parse_request)
from instyle.wire.framing import MAGIC, PREFIX


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


def test_engine_headers_need_their_fields():
    assert check_header({"type": "progress", "id": 1, "done": 0, "total": 3}) == "progress"
    with pytest.raises(ProtocolError, match="'id'"):
        check_header({"type": "progress", "id": True, "done": 0, "total": 3})
    with pytest.raises(ProtocolError, match="not one of"):
        check_header({"type": "shutdown"})


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


def test_a_message_must_arrive_by_its_deadline_and_within_its_time_from_its_first_byte():
    import socket
    import threading
    import time

    from instyle.wire import recv_message

    hello = framed({"type": "hello", "protocol": 1, "token": "t"})
    a, b = socket.socketpair()
    with a, b:
        def trickle():
            for byte in hello[:20]:
                b.send(bytes([byte]))
                time.sleep(0.02)
        trickler = threading.Thread(target=trickle)
        trickler.start()
        start = time.monotonic()
        with pytest.raises(ProtocolError) as err:
            recv_message(a, deadline=start + 0.3)  # bytes keep coming, but the whole message is late
        assert err.value.code == "too_slow" and time.monotonic() - start < 1.0
        trickler.join()
    a, b = socket.socketpair()
    with a, b:
        threading.Timer(0.3, lambda: b.send(hello[:5])).start()
        start = time.monotonic()
        with pytest.raises(ProtocolError) as err:
            recv_message(a, message_timeout=0.2)  # waiting for a first byte is free; the rest is not
        assert err.value.code == "too_slow" and 0.45 < time.monotonic() - start < 1.5
        b.send(hello)
        assert recv_message(a, message_timeout=0.2)[0]["token"] == "t"


def test_buffers_grow_as_bytes_arrive():
    import socket
    import threading
    import tracemalloc

    from instyle.wire import recv_message

    a, b = socket.socketpair()
    with a, b:
        b.sendall(PREFIX.pack(MAGIC, 1, 0, 0, 2, 1) + struct.pack("!Q", 1 << 30) + b"{}" + bytes(5000))
        b.shutdown(socket.SHUT_WR)
        tracemalloc.start()
        with pytest.raises(ConnectionError):
            recv_message(a)  # 1 GiB declared, 5000 bytes sent
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes allocated for a payload that never came"
    a, b = socket.socketpair()
    with a, b:
        data = bytes(range(256)) * 40000  # 10 MB: a buffer that grows several times
        sender = threading.Thread(target=lambda: b.sendall(framed({"type": "ping", "id": 1}, [data])))
        sender.start()
        header, payloads = recv_message(a)
        sender.join()
    assert header == {"type": "ping", "id": 1} and bytes(payloads[0]) == data


def test_message_types_that_are_not_strings_are_named_errors():
    for kind in ({"a": 1}, [1], 3, None):
        with pytest.raises(ProtocolError) as err:
            check_header({"type": kind, "id": 1})
        assert err.value.code == "unknown_type"
        with pytest.raises(InstyleError) as err:
            parse_request({"type": kind, "id": 1})
        assert err.value.code == "unknown_type"


def test_a_sweep_leaves_the_young_temporary_files_of_writers_on_other_machines(tmp_path):
    """A shared cache (a farm, a Ray cluster): a dead pid means a killed writer only for this machine's files; another
    machine's half-written frame goes only once it is older than the sweep's minimum age."""
    import os
    import time

    from instyle.wire.atomic_files import HOST, TEMPORARY, sweep_temporary, temporary_name

    fresh = temporary_name(tmp_path / "000001.exr")
    assert TEMPORARY.fullmatch(fresh.name)["host"] == HOST and f"@{os.getpid()}." in fresh.name
    mine = tmp_path / f".000002.{HOST}@999999.{'ab' * 8}.tmp.exr"
    legacy = tmp_path / f".000003.999999.{'cd' * 8}.tmp.exr"
    theirs = tmp_path / f".000004.other-node@999999.{'ef' * 8}.tmp.exr"
    stale = tmp_path / f".000005.other-node@999999.{'01' * 8}.tmp.exr"
    for path in (mine, legacy, theirs, stale):
        path.write_bytes(b"half a frame")
    os.utime(stale, (time.time() - 120, time.time() - 120))
    assert sweep_temporary(tmp_path, lambda pid: False, min_age_s=60) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [theirs.name]
