"""The official SDK's async client, pointed at a fake server's URL."""

from __future__ import annotations

from typing import Any


def sdk_client(url: str, api_key: str) -> Any:
    """``AsyncDeepgramClient`` whose every socket URL starts with ``url`` (ws://...)."""
    from deepgram import AsyncDeepgramClient
    from deepgram.environment import DeepgramClientEnvironment

    http = url.replace("ws://", "http://")
    environment = DeepgramClientEnvironment(base=http, production=url, agent=url, agent_rest=http)
    return AsyncDeepgramClient(api_key=api_key, environment=environment)
