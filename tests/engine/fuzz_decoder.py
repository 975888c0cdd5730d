"""libFuzzer target (atheris) for the message decoder; run by test_fuzz.py as its own process.

Any exception other than ProtocolError is a crash; libFuzzer's -timeout and -rss_limit_mb catch hangs and
memory growth.
"""

import sys

import atheris

with atheris.instrument_imports():
    from instyle.wire import Limits, ProtocolError, check_array_spec, check_header, decode_message
    from instyle.wire.messages import CLIENT_TYPES

LIMITS = Limits(max_header_bytes=4096, max_payloads=4, max_payload_bytes=16384, max_message_bytes=32768)


def one_input(data: bytes) -> None:
    try:
        header, payloads = decode_message(data, LIMITS)
        check_header(header, CLIENT_TYPES)
        source = header.get("source")
        if isinstance(source, dict) and "array" in source:
            check_array_spec(source["array"], [len(p) for p in payloads])
    except ProtocolError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
