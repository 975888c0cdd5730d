"""libFuzzer target (atheris) for the message decoder; run by test_fuzz.py as its own process.

Any exception other than InstyleError is a crash; libFuzzer's -timeout catches hangs. Memory is checked
here, from the process's current resident size: libFuzzer's own -rss_limit_mb reads the peak that Linux
carries over from the parent across fork and exec, which for a test runner holding models is already large.
"""

import os
import sys

import atheris

with atheris.instrument_imports():
    from instyle.wire import InstyleError, Limits, check_array_spec, decode_message, parse_request
    from instyle.wire.requests import PixelsSource

LIMITS = Limits(max_header_bytes=4096, max_payloads=4, max_payload_bytes=16384, max_message_bytes=32768)
MAX_GROWTH_MB = 256
PAGE = os.sysconf("SC_PAGE_SIZE")
runs = 0
baseline_mb = 0.0


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def one_input(data: bytes) -> None:
    global runs, baseline_mb
    runs += 1
    if runs == 1000:
        baseline_mb = resident_mb()
    elif runs % 10000 == 0 and resident_mb() - baseline_mb > MAX_GROWTH_MB:
        raise MemoryError(f"resident memory grew {resident_mb() - baseline_mb:.0f} MB after {runs} inputs")
    try:
        header, payloads = decode_message(data, LIMITS)
        source = getattr(parse_request(header), "source", None)
        if isinstance(source, PixelsSource) and source.payload is not None:
            check_array_spec(source.array, [len(p) for p in payloads])
    except InstyleError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
