"""A shop's phone line on dgtrio.phone: its own tools, and settings per call.

    TWILIO_AUTH_TOKEN=... DEEPGRAM_API_KEY=... \\
        python examples/phone_agent/service.py --public-url wss://calls.example.com/phone

The TwiML that connects a call to it names the caller's customer id as a
``<Parameter>``, which arrives in ``call.custom_parameters``::

    <Response><Connect><Stream url="wss://calls.example.com/phone">
      <Parameter name="customer" value="42"/>
    </Stream></Connect></Response>

Without DEEPGRAM_API_KEY it answers with dgtrio's scripted fake agent, and says so.
``dgtrio phone`` is the same service with default settings, as a command.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
from functools import partial
from typing import Annotated

import trio

import dgtrio
from dgtrio import agent as ag
from dgtrio.phone import Call, PhoneAgentServer, default_settings, end_call_tool

__all__ = ["ORDERS", "main", "settings_for", "shop_tools"]

ORDERS = {
    "A123": {"status": "shipped", "carrier": "UPS", "eta": "tomorrow"},
    "B456": {"status": "processing", "eta": "in three days"},
}


def shop_tools() -> dgtrio.ToolRegistry:
    """The time, an order lookup, and hanging up after the goodbye."""
    tools = dgtrio.ToolRegistry(timeout=10, redact_errors=True)

    @tools.register
    async def get_time() -> str:
        """The current time (UTC), to tell the caller."""
        await trio.lowlevel.checkpoint()
        return datetime.datetime.now(datetime.UTC).strftime("%H:%M UTC")

    @tools.register
    async def lookup_order(
        order_id: Annotated[str, "The order number the caller gives, e.g. A123"],
    ) -> dict[str, str]:
        """The status of a customer's order."""
        await trio.sleep(0.01)  # a real tool would ask the order service here
        order = ORDERS.get(order_id.strip().upper())
        return {"order_id": order_id, **(order or {"status": "not found"})}

    return end_call_tool(tools)


def settings_for(call: Call) -> ag.AgentV1Settings:
    """Each call's settings: the prompt knows the customer the TwiML names."""
    customer = call.custom_parameters.get("customer", "unknown")
    return default_settings(
        prompt=(
            f"You answer the phone for a small shop; the caller is customer {customer}. "
            "Be brief: the caller hears you. Use lookup_order for orders and get_time "
            "for the time. Say goodbye, then call end_call, when the caller is done."
        ),
    )


async def serve(args: argparse.Namespace) -> None:
    connect: dgtrio.ConnectOptions = {}
    async with trio.open_nursery() as nursery:
        if not dgtrio.credentials_configured():
            from dgtrio.testing import FakeDeepgram

            fake = FakeDeepgram()
            await nursery.start(fake.serve)
            connect = {"base_url": fake.url, "api_key": "fake"}
            print("no DEEPGRAM_API_KEY: the scripted fake agent answers", file=sys.stderr)
        server = PhoneAgentServer(
            public_url=args.public_url,
            auth_token=os.environ.get("TWILIO_AUTH_TOKEN"),
            settings_for=settings_for,
            tools=shop_tools(),
            connect=connect,
        )
        async with trio.open_nursery() as serving:
            port = await serving.start(partial(server.run, args.host, args.port))
            print(f"serving {args.public_url} on {args.host}:{port}", file=sys.stderr)
        # SIGTERM drained the calls (or a second one ended them)
        print(f"done: {server.statistics}", file=sys.stderr)
        nursery.cancel_scope.cancel()  # the fake, if one runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--public-url", required=True, help="wss://HOST/PATH, as Twilio calls it")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    trio.run(serve, parser.parse_args(argv))


if __name__ == "__main__":
    main()
