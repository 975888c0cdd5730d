"""The plug-in's modules that need no GIMP, imported from the built plug-in folder (with its copy of the wire
package): procedures and their pipelines, per-instance channels, engine settings, and how the engine is found or
started."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from array import array
from pathlib import Path

import pytest

from ..conftest import ENGINE_PYTHON


def test_every_argument_is_a_stage_parameter_with_the_spec_defaults(plugin):
    from procedures import PROCEDURES
    from wire.stage_specs import SPECS

    for procedure in PROCEDURES.values():
        names = [a.name for a in procedure.arguments]
        assert len(set(names)) == len(names), procedure.name
        for step in procedure.pipeline({}):
            resolved = SPECS[step["stage"]].resolve(step["params"])  # raises on anything the engine refuses
            for a in procedure.arguments:
                if a.stage == step["stage"] and a.default is None:
                    assert resolved[a.param.name] == a.param.default, (procedure.name, a.name)


def test_pipelines_take_the_arguments_values(plugin):
    from procedures import INSTANCE_MASKS, PORTRAIT_BLUR, STYLIZE_PEOPLE

    masks = INSTANCE_MASKS.pipeline({"classes": "person, dog", "model": "centernet-rvm", "grow": 3})
    assert masks == [{"stage": "instance_mask", "params": {**masks[0]["params"], "classes": ["person", "dog"],
                                                          "model": "centernet+rvm", "grow": 3}},
                     {"stage": "instance_tracker", "params": {}, "return": ["mask", "tracks"]}]
    stylize = STYLIZE_PEOPLE.pipeline({"style-image": None, "assign": "foreground", "background-style": "style07"})
    style = next(s for s in stylize if s["stage"] == "neural_style")["params"]
    assert style["style_image"] == "" and style["assign"] == "foreground" and style["background_style"] == "style07"
    assert style["temporal"] == 0.0  # a still: no previous frame to follow
    assert [s["stage"] for s in stylize][-1] == "mrf_blend" and stylize[-1]["return"] == ["image"]
    blur = PORTRAIT_BLUR.pipeline({})
    assert [s["stage"] for s in blur] == ["instance_mask", "mrf_blend"]
    assert blur[-1]["params"]["background_blur"] == 12.0


def test_choice_nicks_map_back_to_the_engine_values(plugin):
    from procedures import PROCEDURES, nick

    for procedure in PROCEDURES.values():
        for a in procedure.arguments:
            for value in a.param.values if a.param.kind == "enum" else ():
                assert nick(value).replace("-", "").isalnum() and a.value(nick(value)) == value
    assert procedure.argument_for("mrf_blend", "band").name == "band"
    assert procedure.argument_for("neural_style", "band") is None


def test_instance_channels_follow_the_tracks_pass(plugin):
    from pixels import instance_channels

    mask = array("f", [1.0, 0.5, 0.8, 0.0, 0.25, 0.2])
    tracks = array("f", [1, 1, 2, 0, 2, 0])
    assert instance_channels(mask, tracks, [1, 2]) == {1: bytes([255, 128, 0, 0, 0, 0]),
                                                       2: bytes([0, 0, 204, 0, 64, 0])}


def test_a_result_takes_the_sources_alpha(plugin):
    from pixels import with_alpha

    rgba = array("f", [0, 0, 0, 0.25, 0, 0, 0, 1.0])
    with_alpha(rgba, array("f", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
    assert rgba == array("f", [0.1, 0.2, 0.3, 0.25, 0.4, 0.5, 0.6, 1.0])
    with pytest.raises(ValueError, match="3 pixels of colour for 2 pixels with alpha"):
        with_alpha(rgba, array("f", [0.0] * 9))


def test_settings_round_trip_and_a_bad_file_is_named(plugin, tmp_path):
    from settings import Settings, load, save
    from wire import InstyleError

    assert load(tmp_path) == Settings()
    chosen = Settings("/opt/instyle/.venv/bin/python", "")
    assert save(tmp_path, chosen) == tmp_path / "instyle.json" and load(tmp_path) == chosen
    for text in ("{", '["a"]', '{"engine_python": 3}', '{"engine": "x"}'):
        (tmp_path / "instyle.json").write_text(text)
        with pytest.raises(InstyleError) as err:
            load(tmp_path)
        assert err.value.code == "bad_settings" and str(tmp_path / "instyle.json") in err.value.message
        assert "Engine Settings" in err.value.hint


def test_the_environment_comes_before_the_settings(plugin, monkeypatch):
    from engine_link import engine_python
    from settings import Settings

    monkeypatch.delenv("INSTYLE_ENGINE_PYTHON", raising=False)
    assert engine_python(Settings("/a/python")) == "/a/python" and engine_python(Settings()) == ""
    monkeypatch.setenv("INSTYLE_ENGINE_PYTHON", "/b/python")
    assert engine_python(Settings("/a/python")) == "/b/python"


def test_with_nothing_configured_the_error_says_how_to_configure_an_engine(plugin, tmp_path, monkeypatch):
    from engine_link import connect_engine
    from wire import EngineError

    from settings import Settings

    monkeypatch.delenv("INSTYLE_ENGINE_PYTHON", raising=False)
    monkeypatch.setenv("INSTYLE_RUNTIME_FILE", str(tmp_path / "engine.json"))
    for configured, runtime in ((Settings(), tmp_path / "engine.json"),
                                (Settings(runtime_file=str(tmp_path / "x.json")), tmp_path / "x.json")):
        with pytest.raises(EngineError) as err:
            connect_engine(configured)
        assert err.value.code == "no_engine"
        assert "INSTYLE_ENGINE_PYTHON" in err.value.hint and "Engine Settings" in err.value.hint
        assert str(runtime) in err.value.hint


def test_a_configured_engine_python_that_is_missing_is_named(plugin, monkeypatch):
    from engine_link import connect_engine
    from wire import EngineError

    from settings import Settings

    monkeypatch.setenv("INSTYLE_ENGINE_PYTHON", "/nonexistent/bin/python")
    with pytest.raises(EngineError) as err:
        connect_engine(Settings(), gimp_pid=os.getpid())
    assert err.value.code == "no_engine_python" and "/nonexistent/bin/python" in err.value.message


def test_the_configured_engine_python_starts_one_engine_for_the_gimp_session(plugin, monkeypatch):
    from engine_link import connect_engine
    from settings import Settings
    from wire import read_runtime
    from wire.runtime import process_alive

    if not ENGINE_PYTHON.is_file():
        pytest.skip(f"no engine venv at {ENGINE_PYTHON}: run build/setup.sh")
    monkeypatch.delenv("INSTYLE_ENGINE_PYTHON", raising=False)
    configured = Settings(engine_python=str(ENGINE_PYTHON))  # as Engine Settings saves it
    gimp_pid = os.getpid()  # the engine exits with its GIMP: here, this test process
    runtime_file = Path(tempfile.gettempdir()) / f"instyle-gimp-{gimp_pid}" / "engine.json"
    try:
        with connect_engine(configured, gimp_pid=gimp_pid) as client:
            assert client.ping()["type"] == "pong"
        started = read_runtime(runtime_file)
        with connect_engine(configured, gimp_pid=gimp_pid) as client:  # the plug-in's next call: the same engine
            assert client.ping()["type"] == "pong"
        assert read_runtime(runtime_file) == started and started is not None
    finally:
        info = read_runtime(runtime_file)
        if info is not None:
            os.kill(info.pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while process_alive(info.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(runtime_file.parent, ignore_errors=True)
