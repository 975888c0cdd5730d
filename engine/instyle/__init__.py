"""instyle engine: localized neural style transfer served to Blender's compositor."""

__version__ = "0.1.0"
