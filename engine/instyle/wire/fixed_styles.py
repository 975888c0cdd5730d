"""The fixed styles of the 26-style network by name: `style00` to `style25`, in the order of its style index (the
network ships no names of its own)."""

STYLE_NAMES: tuple[str, ...] = tuple(f"style{i:02d}" for i in range(26))
