"""Benchmarks against the official deepgram-sdk, and scripts that run it against dgtrio's
fakes: ``python -m bench`` (see ``bench/README.md``)."""
