"""ASGI entry point: ``uvicorn server:app`` (or ``voicebot serve``)."""

from voicebot.app import create_app
from voicebot.config import get_settings
from voicebot.logs import configure_logging

settings = get_settings()
configure_logging(level="INFO", log_format=settings.log_format)
app = create_app(settings)
