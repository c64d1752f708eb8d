"""A phone-call voice agent service behind Twilio Media Streams (see ``service.py``)."""
