"""Fuzzing the message decoder: 100,000 inputs from libFuzzer (atheris), no crash, hang or memory growth
(the target itself fails if its resident memory grows by more than 256 MB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from instyle.wire import encode_message

TARGET = Path(__file__).with_name("fuzz_decoder.py")
SEEDS = [
    {"type": "run", "id": 3, "source": {"kind": "pixels", "array": {"dtype": "uint8", "shape": [2, 2, 3],
                                                                     "payload": 0}},
     "pipeline": [{"stage": "instance_mask", "params": {}}]},
    {"type": "job", "id": 4, "pipeline": [], "items": [{"source": {}, "frame_number": 1}]},
    {"type": "hello", "protocol": 2, "token": "x"},
]


def test_decoder_survives_100k_fuzzed_messages(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for k, header in enumerate(SEEDS):
        payloads = [bytes(12)] if header["type"] == "run" else []
        (corpus / f"seed{k}").write_bytes(b"".join(bytes(p) for p in encode_message(header, payloads)))
    result = subprocess.run(
        [sys.executable, str(TARGET), "-runs=100000", "-max_len=4096", "-timeout=5", "-rss_limit_mb=0",
         "-seed=1", "-print_final_stats=1", f"-artifact_prefix={tmp_path}/", str(corpus)],
        capture_output=True, text=True, timeout=900)
    log = result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "Done 100000 runs" in log, log[-2000:]
