"""The plug-in's procedures called non-interactively in real GIMP 3 (gimp-console-3.0 -i, batch mode) on real
photos, computed by a real engine on the host: masks, stylized people, portrait blur and both together, a style
from another open image, the engine settings, the errors; and the dialogues, built on a virtual display."""

from __future__ import annotations

import re
import shutil

import cv2
import numpy as np
import pytest

from ..conftest import MESSI, OPENCV_DATA, ROOT, VTEST

BAND = 6.0
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, str]:
    """Paths GIMP in the root can open (under /tmp): a street with several people (frame 20 of vtest.avi, as a
    PNG), a portrait of a footballer (messi5.jpg) and a painting (starry_night.jpg)."""
    folder = tmp_path_factory.mktemp("photos")
    capture = cv2.VideoCapture(str(VTEST))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 20)
    cv2.imwrite(str(folder / "group.png"), capture.read()[1])
    capture.release()
    shutil.copy(MESSI, folder / "portrait.jpg")
    shutil.copy(OPENCV_DATA / "starry_night.jpg", folder / "painting.jpg")
    return {name: str(folder / f"{name}.{ext}") for name, ext in (("group", "png"), ("portrait", "jpg"),
                                                                   ("painting", "jpg"))}


def engine_env(host_engine) -> dict[str, str]:
    return {"INSTYLE_RUNTIME_FILE": str(host_engine.runtime_file)}


def distance_from(channels: list[np.ndarray]) -> np.ndarray:
    """Each pixel's distance in pixels from the nearest pixel of any channel at 0.5 or more (0 on them)."""
    union = np.any([c >= 128 for c in channels], axis=0)
    return cv2.distanceTransform((~union).astype(np.uint8), cv2.DIST_L2, 5)


def depth_into(channels: list[np.ndarray]) -> np.ndarray:
    """Each pixel's distance in pixels from the nearest pixel outside every channel's 0.5 (0 there)."""
    union = np.any([c >= 128 for c in channels], axis=0)
    return cv2.distanceTransform(union.astype(np.uint8), cv2.DIST_L2, 5)


MASKS_THEN = """
image = load({photo!r})
source = image.get_layers()[0]
save(source, "before")
masks = call("instyle-instance-masks", image, source)
channels = image.get_channels()
for k, channel in enumerate(channels):
    save(channel, f"channel{{k}}")
result = call({procedure!r}, image, source, **{arguments!r})
layers = image.get_layers()
save(layers[0], "result")
save(source, "after")
record(masks=masks, result=result, layers=[l.get_name() for l in layers],
       channels=[c.get_name() for c in channels])
"""


def test_a_group_photo_gives_one_channel_per_person_and_a_layer_where_only_the_people_changed(
        gimp, host_engine, photos):
    run = gimp(MASKS_THEN.format(photo=photos["group"], procedure="instyle-stylize-people",
                                 arguments={"band": BAND, "exclude": "2"}), engine_env(host_engine))
    r = run.results
    assert r["masks"] == ["success", ""] and r["result"] == ["success", ""], run.output[-3000:]
    names = r["channels"]
    assert len(names) >= 3 and all(n.startswith("person ") for n in names) and len(set(names)) == len(names)
    channels = [run.pixels(f"channel{k}") for k in range(len(names))]
    assert all((c >= 128).sum() > 200 for c in channels)
    assert not np.any(np.sum([c >= 128 for c in channels], axis=0) > 1)  # one owner per pixel
    assert r["layers"] == ["instyle: stylized", "Background"]
    before, after, result = run.pixels("before"), run.pixels("after"), run.pixels("result")
    assert np.array_equal(before, after)  # the source layer untouched
    outside = distance_from(channels) > BAND / 2 + 2
    assert outside.mean() > 0.5
    assert np.array_equal(result[outside], before[outside])
    styled = [c for name, c in zip(names, channels) if name != "person 2"]
    inside = depth_into(styled) > BAND / 2 + 2
    assert np.abs(result[inside].astype(int) - before[inside]).mean() > 10
    left_out = (channels[names.index("person 2")] >= 128) & (distance_from(styled) > BAND / 2 + 2)
    assert left_out.sum() > 200  # Exclude names people as Instance Masks numbers them: person 2 is not styled
    assert np.array_equal(result[left_out], before[left_out])
    before_and_after(before, result, "gimp-stylize-people.jpg")


def before_and_after(before: np.ndarray, after: np.ndarray, name: str) -> None:
    """The README's picture of a procedure: source and result side by side, in docs/."""
    cv2.imwrite(str(DOCS / name), cv2.cvtColor(np.hstack([before, after]), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 85])


def sharpness(image: np.ndarray, where: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F))[where].mean())


def test_a_portrait_with_portrait_blur_is_blurred_outside_the_person_and_unchanged_inside(gimp, host_engine,
                                                                                          photos):
    radius = 8.0
    run = gimp(MASKS_THEN.format(photo=photos["portrait"], procedure="instyle-portrait-blur",
                                 arguments={"background_blur": radius, "band": BAND}), engine_env(host_engine))
    r = run.results
    assert r["masks"] == ["success", ""] and r["result"] == ["success", ""], run.output[-3000:]
    assert r["layers"] == ["instyle: portrait blur", "Background"] and r["channels"]
    channels = [run.pixels(f"channel{k}") for k in range(len(r["channels"]))]
    before, after, result = run.pixels("before"), run.pixels("after"), run.pixels("result")
    assert np.array_equal(before, after)
    inside = depth_into(channels) > BAND / 2 + 2
    assert inside.sum() > 500
    assert np.array_equal(result[inside], before[inside])
    far = distance_from(channels) > BAND / 2 + 2
    assert (np.abs(result[far].astype(int) - before[far]).max(axis=1) > 0).mean() > 0.8
    assert sharpness(result, far) < 0.4 * sharpness(before, far)
    before_and_after(before, result, "gimp-portrait-blur.jpg")


def test_styfie_one_style_on_the_person_another_on_the_background_and_a_portrait_blur(gimp, host_engine, photos):
    arguments = {"assign": "foreground", "style": "style03", "background_style": "style19", "background_blur": 8.0,
                 "band": BAND}
    run = gimp(MASKS_THEN.format(photo=photos["portrait"], procedure="instyle-stylize-people", arguments=arguments),
               engine_env(host_engine))
    r = run.results
    assert r["result"] == ["success", ""], run.output[-3000:]
    channels = [run.pixels(f"channel{k}") for k in range(len(r["channels"]))]
    before, result = run.pixels("before"), run.pixels("result")
    inside, far = depth_into(channels) > BAND / 2 + 2, distance_from(channels) > BAND / 2 + 10
    assert np.abs(result[inside].astype(int) - before[inside]).mean() > 10  # the person styled
    assert np.abs(result[far].astype(int) - before[far]).mean() > 10  # the background styled...
    assert sharpness(result, far) < 0.4 * sharpness(before, far)  # ...and blurred


BAD_STYLE = """
image = load({photo!r})
source = image.get_layers()[0]
save(source, "before")
result = call("instyle-stylize-people", image, source, method="arbitrary", assign="single",
              style_image={style!r})
save(source, "after")
record(result=result, layers=[l.get_name() for l in image.get_layers()],
       channels=[c.get_name() for c in image.get_channels()], undo=image.undo_is_enabled())
"""


def test_a_bad_style_path_is_a_gimp_error_and_the_image_is_left_as_it_was(gimp, host_engine, photos, tmp_path):
    missing = tmp_path / "no-such-painting.jpg"
    run = gimp(BAD_STYLE.format(photo=photos["portrait"], style=str(missing)), engine_env(host_engine))
    status, message = run.results["result"]
    assert status == "execution-error"
    assert str(missing) in message and "does not exist" in message and "Style Image ('style-image')" in message
    assert "Calling error for procedure 'instyle-stylize-people'" in run.output and str(missing) in run.output
    assert run.results["layers"] == ["Background"] and run.results["channels"] == []
    assert np.array_equal(run.pixels("before"), run.pixels("after"))


def test_with_no_engine_configured_the_plugin_says_how_to_configure_one(gimp, photos, tmp_path):
    script = BAD_STYLE.format(photo=photos["portrait"], style=photos["painting"])
    run = gimp(script, {"INSTYLE_RUNTIME_FILE": str(tmp_path / "no-engine.json")})
    status, message = run.results["result"]
    assert status == "execution-error"
    assert "no instyle engine is configured" in message and "Filters > instyle > Engine Settings" in message
    assert "INSTYLE_ENGINE_PYTHON" in message and "instyle-engine serve" in message
    assert str(tmp_path / "no-engine.json") in message
    assert "no instyle engine is configured" in run.output  # shown by GIMP
    assert run.results["layers"] == ["Background"]


NOT_A_LAYER = """
image = load({photo!r})
channel = Gimp.Channel.new(image, "selection", image.get_width(), image.get_height(), 50.0, Gegl.Color.new("red"))
image.insert_channel(channel, None, 0)
record(result=call("instyle-portrait-blur", image, channel), layers=[l.get_name() for l in image.get_layers()])
"""


def test_a_channel_instead_of_a_layer_is_a_named_error(gimp, host_engine, photos):
    run = gimp(NOT_A_LAYER.format(photo=photos["portrait"]), engine_env(host_engine))
    status, message = run.results["result"]
    assert status == "execution-error" and message.startswith("instyle: this works on one layer, not on channels")
    assert "select the photo's layer" in message
    assert run.results["layers"] == ["Background"]


STYLE_LAYER = """
image = load({photo!r})
source = image.get_layers()[0]
source.add_alpha()
source.get_buffer().set(Gegl.Rectangle.new(0, 0, 40, 30), "A u8", bytes(1200))  # a transparent corner
source.update(0, 0, 40, 30)
painting = load({painting!r})
save(source, "before")
result = call("instyle-stylize-people", image, source, method="arbitrary", assign="single", band={band!r},
              style_layer=painting.get_layers()[0])
save(image.get_layers()[0], "result")
save_alpha(image.get_layers()[0], "result_alpha")
masks = call("instyle-instance-masks", image, source)
for k, channel in enumerate(image.get_channels()):
    save(channel, f"channel{{k}}")
import os
temp = Gimp.temp_file("png").get_parent().get_path()
record(result=result, channels=[c.get_name() for c in image.get_channels()],
       temp_pngs=[f for f in os.listdir(temp) if f.endswith(".png")] if os.path.isdir(temp) else [])
"""


def test_a_layer_of_another_open_image_as_the_style_and_a_layer_with_transparency(gimp, host_engine, photos):
    run = gimp(STYLE_LAYER.format(photo=photos["portrait"], painting=photos["painting"], band=BAND),
               engine_env(host_engine))
    assert run.results["result"] == ["success", ""], run.output[-3000:]
    channels = [run.pixels(f"channel{k}") for k in range(len(run.results["channels"]))]
    before, result = run.pixels("before"), run.pixels("result")
    outside, inside = distance_from(channels) > BAND / 2 + 2, depth_into(channels) > BAND / 2 + 2
    assert np.array_equal(result[outside], before[outside])
    assert np.abs(result[inside].astype(int) - before[inside]).mean() > 10
    assert run.results["temp_pngs"] == []  # the style layer's file is removed once the engine read it
    alpha = run.pixels("result_alpha")  # the source's transparency, kept
    assert (alpha[:30, :40] == 0).all() and (alpha[30:] == 255).all() and (alpha[:, 40:] == 255).all()


ENGINE_SETTINGS = """
import os
image = load({photo!r})
source = image.get_layers()[0]
bad = call("instyle-engine-settings", image, source, engine_python="/nonexistent/bin/python")
saved_after_bad = os.path.exists(os.path.join(Gimp.directory(), "instyle.json"))
good = call("instyle-engine-settings", image, source, runtime_file={runtime!r})
masks = call("instyle-instance-masks", image, source)
record(bad=bad, saved_after_bad=saved_after_bad, good=good, masks=masks,
       channels=[c.get_name() for c in image.get_channels()],
       settings=open(os.path.join(Gimp.directory(), "instyle.json")).read())
"""


def test_engine_settings_reach_a_running_engine_without_any_environment(gimp, host_engine, photos):
    run = gimp(ENGINE_SETTINGS.format(photo=photos["portrait"], runtime=str(host_engine.runtime_file)), {})
    r = run.results
    assert r["bad"][0] == "execution-error" and "engine Python not found: /nonexistent/bin/python" in r["bad"][1]
    assert not r["saved_after_bad"]
    assert r["good"] == ["success", ""] and str(host_engine.runtime_file) in r["settings"]
    assert r["masks"] == ["success", ""], run.output[-3000:]
    assert r["channels"] and all(n.startswith("person ") for n in r["channels"])


DIALOGUES = """
import gi
gi.require_version("GimpUi", "3.0")
from gi.repository import GimpUi, GObject
GimpUi.init("instyle-dialogue-check")
shown = {}
for name in ("instyle-instance-masks", "instyle-stylize-people", "instyle-portrait-blur", "instyle-engine-settings"):
    procedure = Gimp.get_pdb().lookup_procedure(name)
    dialog = GimpUi.ProcedureDialog(procedure=procedure, config=procedure.create_config())
    dialog.fill(None)
    arguments = [a.name for a in procedure.get_arguments() if a.name not in ("run-mode", "image", "drawables")]
    shown[name] = {a: type(dialog.get_widget(a, GObject.TYPE_NONE)).__name__ for a in arguments}
    dialog.destroy()
record(shown=shown)
"""


KIND_WIDGETS = {"enum": "LabelStringWidget", "float": "LabelSpin", "int": "LabelSpin", "str": "LabelEntry",
                "enum_list": "LabelEntry"}


def test_every_procedure_has_a_dialogue_of_gimp_widgets(gimp, plugin):
    """The interactive dialogue (GimpUi.ProcedureDialog, as the plug-in runs it), built on a virtual display:
    every argument gets GIMP's widget for its kind, labelled with a mnemonic."""
    from procedures import PROCEDURES

    run = gimp(DIALOGUES, {}, display=True)
    shown = run.results["shown"]
    for name, procedure in PROCEDURES.items():
        assert shown[name] == {**{a.name: KIND_WIDGETS[a.param.kind] for a in procedure.arguments},
                               **({"style-layer": "DrawableChooser"} if name == "instyle-stylize-people" else {})}
    assert shown["instyle-engine-settings"] == {"engine-python": "LabelEntry", "runtime-file": "LabelEntry"}
    unlabelled = set(re.findall(r"no mnemonic for property (\S+)", run.output))
    assert unlabelled <= {"run-mode"}, unlabelled  # GIMP's own run-mode aside
