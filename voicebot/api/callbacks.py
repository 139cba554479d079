"""``/v1/callbacks``: the wallet backend asks for calls, follows them, cancels them.

Thin routes: authentication is ``ApiClient``, the work is in
``voicebot.records.callbacks``; its errors become HTTP answers in
``voicebot.api.errors``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response

from voicebot.api.auth import ApiClient
from voicebot.api.schemas import Callback, CallbackRequest, Key, Problem, callback_out
from voicebot.deps import ServicesDep
from voicebot.records import callbacks as records

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No API key, or not a valid one"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such callback for this client"}
}

router = APIRouter(prefix="/v1", tags=["callbacks"], responses=UNAUTHORIZED)

CallbackId = Annotated[
    Key,
    Path(
        description="the id returned when the callback was created",
        max_length=64,
        examples=["cb_4f1c2a9e0b7d4c3e8a6f5b1d2c3e4f50"],
    ),
]


@router.post(
    "/callbacks",
    status_code=202,
    summary="Ask for a call to a customer",
    response_description="Queued: the call will be placed when the consent gate allows it",
    responses={
        200: {"model": Callback, "description": "This event_id was seen before: that callback"},
        409: {"model": Problem, "description": "This event_id was used for a different request"},
        429: {
            "model": Problem,
            "description": (
                "The number already has as many callbacks queued or being dialed as allowed "
                "(MAX_OPEN_CALLBACKS_PER_NUMBER); nothing was stored"
            ),
        },
    },
)
async def create_callback(
    body: Annotated[CallbackRequest, Body()],
    client: ApiClient,
    services: ServicesDep,
    response: Response,
) -> Callback:
    """Queue a callback. Idempotent per `event_id`: repeating a request is safe.

    An invalid body is 422; each error's `loc` names the field and `msg` says why.
    A number with too many callbacks still open is 429, with no `Retry-After`:
    they end when the customer's hours and the consent gate let them be called,
    which no header could promise.
    """
    stored, created = await asyncio.to_thread(
        records.create_callback,
        services.db,
        client=client,
        event_id=body.event_id,
        purpose=body.purpose,
        urgency=body.urgency,
        earliest_at=body.earliest_at,
        deadline=body.deadline,
        request=body.model_dump(mode="json"),
        max_open_per_number=services.settings.max_open_callbacks_per_number,
    )
    if created:
        await services.dial_queue.new_callback(stored.id, stored.earliest_at)
    response.status_code = 202 if created else 200
    response.headers["Location"] = f"{router.prefix}/callbacks/{stored.id}"
    return callback_out(stored)


@router.get(
    "/callbacks/{callback_id}",
    summary="A callback's state, attempts and consent decisions",
    response_description="The callback as it stands",
    responses=NOT_FOUND,
)
async def get_callback(
    callback_id: CallbackId, client: ApiClient, services: ServicesDep
) -> Callback:
    """Where a callback stands, with every attempt and every consent-gate decision so far."""
    stored = await asyncio.to_thread(
        records.get_callback, services.db, client=client, callback_id=callback_id
    )
    return callback_out(stored)


@router.delete(
    "/callbacks/{callback_id}",
    summary="Cancel a callback",
    response_description="Cancelled (also when it already was)",
    responses={
        **NOT_FOUND,
        409: {"model": Problem, "description": "The callback has already ended"},
    },
)
async def cancel_callback(
    callback_id: CallbackId, client: ApiClient, services: ServicesDep
) -> Callback:
    """Cancel a callback that is no longer needed (say, confirmed in the app). Repeatable."""
    stored = await asyncio.to_thread(
        records.cancel_callback, services.db, client=client, callback_id=callback_id
    )
    return callback_out(stored)
