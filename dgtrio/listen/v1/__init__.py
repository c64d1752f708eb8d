"""Listen v1: see :mod:`dgtrio.listen` for the public names."""
