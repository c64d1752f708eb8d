"""Speak v1: see :mod:`dgtrio.speak` for the public names."""
