"""``dgtrio devices``: the microphones and speakers PortAudio sees."""

from __future__ import annotations

import argparse

from dgtrio.audio import list_devices

from ._common import Command, Console

__all__ = ["add_devices"]


def add_devices(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``devices`` command."""
    parser = commands.add_parser(
        "devices",
        help="list the microphones and speakers",
        description="List the sound devices PortAudio sees, with the index and name "
        "that --device and --output-device take.",
    )
    parser.set_defaults(handler=Command(_devices, uses_audio=lambda args: True))


async def _devices(args: argparse.Namespace, console: Console) -> None:
    out = console.out
    found = await list_devices()
    out.write(f"{'#':>3}  {'in':>3} {'out':>3}  {'rate':>6}  name\n")
    for device in found:
        pairs = (("input", device.is_default_input), ("output", device.is_default_output))
        defaults = [kind for kind, is_default in pairs if is_default]
        marks = f"  (default {' and '.join(defaults)})" if defaults else ""
        out.write(
            f"{device.index:>3}  {device.max_input_channels:>3} {device.max_output_channels:>3}  "
            f"{device.default_sample_rate:>6.0f}  {device.name} [{device.host_api}]{marks}\n"
        )
