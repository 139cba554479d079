"""FastAPI dependencies, as ``Annotated`` aliases for thin routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection

from voicebot.errors import SignatureError
from voicebot.services import Services
from voicebot.telephony.signatures import check_signature, public_url


def get_services(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def twilio_form(request: Request, services: ServicesDep) -> dict[str, str]:
    """The webhook's form parameters, once its Twilio signature has been verified."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = public_url(services.settings.public_base_url, request)
    try:
        check_signature(
            services.settings.twilio_auth_token.get_secret_value(),
            url,
            form,
            request.headers.get("X-Twilio-Signature"),
        )
    except SignatureError as e:
        raise HTTPException(status_code=403, detail=str(e)) from e
    return form


TwilioForm = Annotated[dict[str, str], Depends(twilio_form)]
