# Executed by GIMP's Python (python-fu-eval) before each test's batch script: helpers that call the plug-in's
# procedures non-interactively and write what the test checks into the work folder (`WORK`, set by the test).
import json

from gi.repository import Gegl, Gimp, Gio

RESULTS = {}


def load(path):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(str(path)))


def call(name, image, layer, **arguments):
    """Run procedure `name` on `layer` with `arguments` (underscores for hyphens); returns (status nick, error)."""
    procedure = Gimp.get_pdb().lookup_procedure(name)
    config = procedure.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    for key, value in arguments.items():
        config.set_property(key.replace("_", "-"), value)
    result = procedure.run(config)
    error = result.index(1) if result.length() > 1 else ""
    return result.index(0).value_nick, error


def save(drawable, name):
    """The drawable's pixels (R'G'B' u8, or Y u8 for a channel) in WORK/name.raw, its size in the results."""
    buffer = drawable.get_buffer()
    fmt = "Y u8" if isinstance(drawable, Gimp.Channel) else "R'G'B' u8"
    with open(f"{WORK}/{name}.raw", "wb") as f:
        f.write(buffer.get(buffer.get_extent(), 1.0, fmt, 0))
    RESULTS.setdefault("sizes", {})[name] = [drawable.get_height(), drawable.get_width()]


def save_alpha(layer, name):
    """The layer's alpha (A u8; 255 everywhere without an alpha channel) in WORK/name.raw."""
    buffer = layer.get_buffer()
    with open(f"{WORK}/{name}.raw", "wb") as f:
        f.write(buffer.get(buffer.get_extent(), 1.0, "A u8", 0))
    RESULTS.setdefault("sizes", {})[name] = [layer.get_height(), layer.get_width()]


def record(**values):
    RESULTS.update(values)
    with open(f"{WORK}/results.json", "w") as f:
        json.dump(RESULTS, f)
