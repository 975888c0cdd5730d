"""Typed requests: a header is parsed once, whole, into its request; an unknown, missing or mistyped field is a
named error that says which field and what to send."""

from __future__ import annotations

from pathlib import Path

import pytest

from instyle.wire import InstyleError, parse_request
from instyle.wire.requests import (CancelRequest, FileSource, Hello, JobRequest, PixelsSource, RunRequest,
                                   parse_pipeline)

FILE = {"kind": "file", "path": "/footage/clip.mov", "frame": 3}
PIXELS = {"kind": "pixels", "array": {"dtype": "uint8", "shape": [4, 6, 3], "payload": 0}}


def error(header: dict, allowed=None) -> InstyleError:
    with pytest.raises(InstyleError) as err:
        parse_request(header, allowed)
    return err.value


def test_a_run_is_parsed_into_its_typed_request():
    request = parse_request({"type": "run", "id": 4, "source": FILE, "frame_number": 12, "shot": "clip",
                             "pipeline": [{"stage": "instance_mask"},
                                          {"stage": "mrf_blend", "write": "/cache/b", "return": ["alpha"],
                                           "params": {"band": 3}}]})
    assert isinstance(request, RunRequest) and request.source == FileSource("/footage/clip.mov", 3)
    assert [c.name for c in request.pipeline] == ["instance_mask", "mrf_blend"]
    blend = request.pipeline[1]
    assert blend.params["band"] == 3.0 and blend.params["mode"] == "mrf"  # defaults filled in
    assert (blend.write, blend.write_outputs, blend.returns) == (Path("/cache/b"), ("image", "alpha",
                                                                                   "stylized_for_mix"), ("alpha",))
    assert request.pipeline[0].write is None and (request.frame_number, request.shot) == (12, "clip")


def test_a_job_gives_the_run_of_each_item():
    job = parse_request({"type": "job", "id": 2, "shot": "s", "pipeline": [{"stage": "mrf_blend"}],
                         "items": [{"source": PIXELS, "frame_number": 7}]})
    assert isinstance(job, JobRequest)
    run = job.run(job.items[0])
    assert (run.id, run.frame_number, run.shot) == (2, 7, "s") and isinstance(run.source, PixelsSource)
    assert run.source.array == PIXELS["array"]


@pytest.mark.parametrize("header, field", [
    ({"type": "run", "id": 1, "source": FILE, "pipeline": [{"stage": "mrf_blend"}], "colour": 1}, "'colour'"),
    ({"type": "run", "id": 1, "source": dict(FILE, fps=24), "pipeline": [{"stage": "mrf_blend"}]}, "'fps'"),
    ({"type": "run", "id": 1, "source": FILE, "pipeline": [{"stage": "mrf_blend", "outputs": []}]}, "'outputs'"),
    ({"type": "job", "id": 1, "pipeline": [{"stage": "mrf_blend"}],
      "items": [{"source": FILE, "frame_number": 1, "when": 0}]}, "'when'"),
    ({"type": "ping", "id": 1, "extra": True}, "'extra'"),
])
def test_unknown_fields_are_named(header, field):
    err = error(header)
    assert err.code == "bad_request" and f"has no field {field}" in err.message and "it takes:" in err.message
    assert err.hint


@pytest.mark.parametrize("header, says", [
    ({"type": "run", "id": True, "source": FILE, "pipeline": [{"stage": "mrf_blend"}]}, "run.id must be an integer, "
                                                                                        "got true or false"),
    ({"type": "run", "id": 1, "source": "nope", "pipeline": [{"stage": "mrf_blend"}]}, "run.source must be an object"),
    ({"type": "run", "id": 1, "pipeline": [{"stage": "mrf_blend"}]}, "run needs the field 'source'"),
    ({"type": "run", "id": 1, "source": dict(FILE, frame="3"), "pipeline": [{"stage": "mrf_blend"}]},
     "run.source.frame must be an integer, got a string"),
    ({"type": "run", "id": 1, "source": FILE, "pipeline": [{"stage": 3}]}, "pipeline[0].stage must be a string"),
    ({"type": "run", "id": 1, "source": FILE, "pipeline": [{"stage": "mrf_blend", "write": "/c"}]},
     "writing outputs needs run.frame_number"),
    ({"type": "run", "id": 1, "source": FILE, "pipeline": [{"stage": "mrf_blend"}], "shm": []}, "run.shm must be"),
    ({"type": "run", "id": 1, "source": FILE, "pipeline": [{"stage": "mrf_blend"}], "shot": "x" * 600}, "run.shot"),
    ({"type": "run", "id": 1, "source": {"kind": "pixels", "array": {"dtype": "uint8", "shape": [4, 6, 3],
                                                                     "shm_offset": 0}},
      "pipeline": [{"stage": "mrf_blend"}]}, "no 'shm'"),
    ({"type": "run", "id": 1, "source": {"kind": "pixels", "array": {"dtype": "uint8", "shape": [4, 6]}},
      "pipeline": [{"stage": "mrf_blend"}]}, "HxWx3 or HxWx4"),
    ({"type": "run", "id": 1, "source": {"kind": "url", "path": "x"}, "pipeline": [{"stage": "mrf_blend"}]},
     "is not 'file' or 'pixels'"),
    ({"type": "job", "id": 1, "pipeline": [{"stage": "mrf_blend"}], "items": []}, "1 to 100000 frames"),
    ({"type": "job", "id": 1, "pipeline": [{"stage": "mrf_blend", "write": "/c"}],
      "items": [{"source": FILE, "frame_number": -1}]}, "job.items[0].frame_number"),
    ({"type": "cancel", "id": 1}, "cancel needs the field 'job'"),
    ({"type": "echo", "id": 1, "source": FILE}, "echo.source must be a pixels source"),
])
def test_wrong_and_missing_fields_are_named(header, says):
    err = error(header)
    assert err.code == "bad_request" and says in err.message, err.message
    assert err.hint


def test_pipelines_are_checked_against_the_stages():
    with pytest.raises(InstyleError) as err:
        parse_pipeline([{"stage": "posterize"}])
    assert err.value.code == "unknown_stage" and "instance_mask" in err.value.hint
    with pytest.raises(InstyleError) as err:
        parse_pipeline([{"stage": "mrf_blend"}, {"stage": "instance_mask"}])
    assert (err.value.code, err.value.stage) == ("bad_request", "instance_mask")
    with pytest.raises(InstyleError) as err:
        parse_pipeline([{"stage": "neural_style", "params": {"style": "vangogh"}}])
    assert (err.value.code, err.value.stage, err.value.param) == ("bad_param", "neural_style", "style")
    with pytest.raises(InstyleError) as err:
        parse_pipeline([{"stage": "neural_style", "params": {"colour": 1}}])
    assert (err.value.code, err.value.stage) == ("bad_param", "neural_style")
    with pytest.raises(InstyleError) as err:
        parse_pipeline([{"stage": "mrf_blend", "return": ["mask"]}])
    assert err.value.code == "bad_request" and "can return only" in err.value.message


@pytest.mark.parametrize("kind", [{"a": 1}, [1, 2], 3, None, "shutdown"])
def test_a_type_that_names_no_request_is_unknown_type(kind):
    assert error({"type": kind, "id": 1}).code == "unknown_type"


def test_hello_only_where_asked_for():
    hello = parse_request({"type": "hello", "protocol": 2, "token": "t", "client": "blender"}, frozenset({"hello"}))
    assert hello == Hello(2, "t", "blender")
    assert error({"type": "hello", "protocol": 2, "token": "t"}).code == "unknown_type"  # not after the handshake
    assert error({"type": "ping", "id": 1}, frozenset({"hello"})).code == "unknown_type"
    assert error({"type": "hello", "protocol": "2", "token": "t"}, frozenset({"hello"})).code == "bad_request"
    assert parse_request({"type": "cancel", "id": 3, "job": 2}) == CancelRequest(3, 2)
