"""Speak v2 (Flux TTS): see :mod:`dgtrio.speak` for the public names."""
