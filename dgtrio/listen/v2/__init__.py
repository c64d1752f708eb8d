"""Listen v2: see :mod:`dgtrio.listen` for the public names."""
