"""A simulated Twilio caller, to test a phone service without Twilio or a phone:
:class:`SimulatedCall` calls as Twilio would (signed upgrade, ``start``, 20 ms of
mu-law every 20 ms, ``stop``), plays what it hears in real time and echoes marks."""

from ._simulator import SimulatedCall as SimulatedCall
from ._simulator import connect as connect
from ._simulator import speech as speech

__all__ = ["SimulatedCall", "connect", "speech"]
