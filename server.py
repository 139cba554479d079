"""ASGI entry point: ``uvicorn server:app`` (or ``voicebot serve``)."""

from voicebot.app import create_app

app = create_app()
