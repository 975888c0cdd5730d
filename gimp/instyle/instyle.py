#!/usr/bin/env python3
"""instyle for GIMP 3: Filters > instyle > Instance Masks, Stylize People and Portrait Blur, on the active layer,
computed by the instyle engine, and Engine Settings (see engine_link for how the engine is found)."""

from __future__ import annotations

import os
import sys
import threading
import uuid
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the shipped wire package and the modules beside
import settings  # noqa: E402
from engine_link import connect_engine  # noqa: E402
from pixels import floats, instance_channels, with_alpha  # noqa: E402
from procedures import PROCEDURES, STYLIZE_PEOPLE, Argument, Procedure, nick  # noqa: E402
from wire import InstyleError  # noqa: E402
from wire.params import ParamError  # noqa: E402

RW = GObject.ParamFlags.READWRITE
ENGINE_SETTINGS = "instyle-engine-settings"


def add_argument(procedure: Gimp.Procedure, argument: Argument) -> None:
    """The stage parameter as a GIMP argument of its kind, with the spec's label (its first letter the dialogue's
    mnemonic), tooltip, default and range."""
    p, name, label, doc = argument.param, argument.name, f"_{argument.param.title}", argument.param.doc
    if p.kind == "float":
        procedure.add_double_argument(name, label, doc, p.minimum, p.maximum, argument.initial, RW)
    elif p.kind == "int":
        procedure.add_int_argument(name, label, doc, int(p.minimum), int(p.maximum), argument.initial, RW)
    elif p.kind == "enum":
        choice = Gimp.Choice.new()
        for k, c in enumerate(p.choices):
            choice.add(nick(c.value), k, c.label, c.doc)
        procedure.add_choice_argument(name, label, doc, choice, argument.initial, RW)
    elif p.kind in ("str", "enum_list"):  # a list of names as text, separated by commas
        hint = f" ({', '.join(p.values[:6])}, ...; separated by commas)" if p.kind == "enum_list" else ""
        procedure.add_string_argument(name, label, doc + hint, argument.initial, RW)
    else:
        raise TypeError(f"{argument.stage}.{p.name}: no GIMP argument for parameters of kind {p.kind!r}")


def run(procedure, run_mode, image, drawables, config, spec: Procedure):
    if run_mode == Gimp.RunMode.INTERACTIVE and not _dialogue(procedure, config, spec.name):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer):
        return _fail(procedure, "this works on one layer, not on channels, masks or several layers. To fix: "
                     "select the photo's layer in the Layers dialogue.")
    source = drawables[0]
    values = {a.name: config.get_property(a.name) for a in spec.arguments}
    style_layer = config.get_property("style-layer") if spec is STYLIZE_PEOPLE else None
    if style_layer is not None:
        values["style-image"] = _export_style(style_layer)
    try:
        reply, arrays = _compute(spec, source, spec.pipeline(values), settings.load(Path(Gimp.directory())))
    except InstyleError as error:
        return _fail(procedure, _describe(error, spec))
    finally:
        if style_layer is not None:
            os.unlink(values["style-image"])
    image.undo_group_start()
    try:
        if spec.layer:
            _add_result_layer(image, source, spec.layer, arrays["mrf_blend.image"])
        else:
            _add_channels(image, source, reply, arrays)
    finally:
        image.undo_group_end()
    Gimp.displays_flush()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def _dialogue(procedure, config, name: str) -> bool:
    """Show the procedure's dialogue (GIMP's widgets for every argument of `config`); whether the user pressed OK."""
    GimpUi.init(name)
    dialog = GimpUi.ProcedureDialog(procedure=procedure, config=config)
    dialog.fill(None)
    accepted = dialog.run()
    dialog.destroy()
    return bool(accepted)


def _fail(procedure, message: str):
    """The procedure's error return: GIMP shows the message (the error console, or the terminal in batch mode)."""
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error.new_literal(
        GLib.quark_from_string("instyle"), f"instyle: {message}", 0))


def run_engine_settings(procedure, run_mode, image, drawables, config, data):
    """Engine Settings: the engine Python, or a running engine's runtime file, saved in GIMP's profile folder."""
    folder = Path(Gimp.directory())
    if run_mode == Gimp.RunMode.INTERACTIVE:
        try:
            current = settings.load(folder)
        except InstyleError:
            current = settings.Settings()
        config.set_property("engine-python", current.engine_python)
        config.set_property("runtime-file", current.runtime_file)
        if not _dialogue(procedure, config, ENGINE_SETTINGS):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    chosen = settings.Settings(config.get_property("engine-python") or "", config.get_property("runtime-file") or "")
    if chosen.engine_python and not os.path.isfile(chosen.engine_python):
        return _fail(procedure, f"engine Python not found: {chosen.engine_python}. To fix: choose the python of "
                     "the instyle engine's venv (its bin/python).")
    settings.save(folder, chosen)
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def _describe(error: InstyleError, spec: Procedure) -> str:
    """The error's message and what to do, in the procedure's words: a parameter at fault is named by its
    argument's label."""
    hint = error.hint
    argument = spec.argument_for(error.stage, error.param)
    if argument is not None and hint == ParamError.HINT:
        hint = f"correct {argument.param.title} ('{argument.name}')"
    return f"{error.message}." + (f" To fix: {hint}." if hint else "")


def _compute(spec: Procedure, source: Gimp.Layer, pipeline: list[dict], engine: settings.Settings
             ) -> tuple[dict, dict]:
    """Run `source`'s pixels through `pipeline` in the engine, pulsing GIMP's progress bar meanwhile (its Cancel
    closes this process; the engine drops the run of a client that disconnects); returns the reply and its arrays
    by name, as (spec, payload) pairs."""
    buffer = source.get_buffer()
    w, h = source.get_width(), source.get_height()
    pixels = buffer.get(Gegl.Rectangle.new(0, 0, w, h), 1.0, "R'G'B' u8", Gegl.AbyssPolicy.CLAMP)
    header = {"type": "run", "shot": f"gimp-{uuid.uuid4().hex}", "pipeline": pipeline,
              "source": {"kind": "pixels", "array": {"dtype": "uint8", "shape": [h, w, 3], "payload": 0}}}
    outcome: dict = {}

    def request():
        try:
            with connect_engine(engine) as client:
                outcome["reply"] = client.request(header, [pixels])
        except InstyleError as error:
            outcome["error"] = error

    Gimp.progress_init(f"instyle: {spec.label.replace('_', '').rstrip('.')}")
    worker = threading.Thread(target=request, daemon=True)
    worker.start()
    while worker.is_alive():
        Gimp.progress_pulse()
        worker.join(0.1)
    Gimp.progress_end()
    if "error" in outcome:
        raise outcome["error"]
    reply, payloads = outcome["reply"]
    return reply, {name: (s, payloads[s["payload"]]) for name, s in reply["arrays"].items()}


def _export_style(layer: Gimp.Drawable) -> str:
    """The style layer written to a PNG in GIMP's temporary folder (the engine reads style images from files)."""
    copy = Gimp.Image.new(layer.get_width(), layer.get_height(), Gimp.ImageBaseType.RGB)
    try:
        copy.insert_layer(Gimp.Layer.new_from_drawable(layer, copy), None, 0)
        target = Gimp.temp_file("png")
        Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, copy, target, None)
        return target.get_path()
    finally:
        copy.delete()


def _add_result_layer(image, source, name: str, result: tuple[dict, bytes]) -> None:
    """The engine's image as a new layer `name` just above `source`, where it lies, with its transparency."""
    spec, payload = result
    h, w = spec["shape"][:2]
    rect = Gegl.Rectangle.new(0, 0, w, h)
    kind = Gimp.ImageType.RGBA_IMAGE if source.has_alpha() else Gimp.ImageType.RGB_IMAGE
    layer = Gimp.Layer.new(image, name, w, h, kind, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, source.get_parent(), image.get_item_position(source))
    _, x, y = source.get_offsets()
    layer.set_offsets(x, y)
    if source.has_alpha():
        rgba = floats(source.get_buffer().get(rect, 1.0, "R'G'B'A float", Gegl.AbyssPolicy.CLAMP), {"dtype": "float32"})
        with_alpha(rgba, floats(payload, spec))
        data, fmt = rgba.tobytes(), "R'G'B'A float"
    else:
        data, fmt = bytes(payload), "R'G'B' float"
    buffer = layer.get_buffer()
    buffer.set(rect, fmt, data)
    buffer.flush()
    layer.update(0, 0, w, h)


def _add_channels(image, source, reply: dict, arrays: dict) -> None:
    (mask_spec, mask), (tracks_spec, tracks) = arrays["instance_tracker.mask"], arrays["instance_tracker.tracks"]
    h, w = mask_spec["shape"][:2]
    instances = [i for i in reply["instances"] if i["track_id"]]
    channels = instance_channels(floats(mask, mask_spec), floats(tracks, tracks_spec),
                                 [i["track_id"] for i in instances])
    _, x, y = source.get_offsets()
    for instance in reversed(instances):
        channel = Gimp.Channel.new(image, f"{instance['class']} {instance['track_id']}", image.get_width(),
                                   image.get_height(), 50.0, Gegl.Color.new("red"))
        image.insert_channel(channel, None, 0)
        buffer = channel.get_buffer()
        buffer.set(Gegl.Rectangle.new(x, y, w, h), "Y u8", channels[instance["track_id"]])
        buffer.flush()
        channel.update(x, y, w, h)


class Instyle(Gimp.PlugIn):
    def do_query_procedures(self):
        return [*PROCEDURES, ENGINE_SETTINGS]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        if name == ENGINE_SETTINGS:
            return self._engine_settings()
        spec = PROCEDURES[name]
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, spec)
        procedure.set_image_types("RGB*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label(spec.label)
        procedure.add_menu_path("<Image>/Filters/instyle")
        procedure.set_documentation(spec.blurb, spec.doc, name)
        procedure.set_attribution("instyle", "instyle", "2026")
        for argument in spec.arguments:
            add_argument(procedure, argument)
        if spec is STYLIZE_PEOPLE:
            procedure.add_drawable_argument("style-layer", "Style _Layer", "A layer of any open image as the style "
                                            "image (instead of Style Image)", True, RW)
        return procedure

    def _engine_settings(self):
        procedure = Gimp.ImageProcedure.new(self, ENGINE_SETTINGS, Gimp.PDBProcType.PLUGIN, run_engine_settings,
                                            None)
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
        procedure.set_menu_label("_Engine Settings...")
        procedure.add_menu_path("<Image>/Filters/instyle")
        procedure.set_documentation("Which instyle engine the other procedures use",
                                    "The engine Python (the python of the instyle engine's venv), started on first "
                                    "use and kept until GIMP exits; or, with none, the runtime file of an engine "
                                    "started with `instyle-engine serve`. INSTYLE_ENGINE_PYTHON in GIMP's "
                                    "environment comes first.", ENGINE_SETTINGS)
        procedure.set_attribution("instyle", "instyle", "2026")
        procedure.add_string_argument("engine-python", "Engine _Python", "The python of the instyle engine's venv, "
                                      "such as /opt/instyle/.venv/bin/python", "", RW)
        procedure.add_string_argument("runtime-file", "_Runtime File", "Where a running engine records itself "
                                      "(empty: INSTYLE_RUNTIME_FILE or the per-user default)", "", RW)
        return procedure


Gimp.main(Instyle.__gtype__, sys.argv)
