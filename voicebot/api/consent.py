"""``/v1/opt-outs`` and ``/v1/consents``: the wallet backend keeps the consent registry true.

An opt-out or a withdrawal sent here takes effect at once: the gate reads SQL
when a call is about to be dialed, so callbacks already queued for the number
are refused from then on. Consents are granted and withdrawn per purpose, with
where they came from (the app's settings screen, the onboarding form, ...).
Thin routes: the work is in ``voicebot.consent.registry``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path

from voicebot.api.auth import ApiClient
from voicebot.api.callbacks import UNAUTHORIZED
from voicebot.api.schemas import (
    ConsentGrant,
    ConsentOut,
    NumberStatusOut,
    OptOutRequest,
    PhoneNumber,
)
from voicebot.consent import registry
from voicebot.deps import ServicesDep
from voicebot.records.opt_outs import record_opt_out

router = APIRouter(prefix="/v1", tags=["consent"], responses=UNAUTHORIZED)

Purpose = Literal["transaction_confirmation", "feedback"]
Phone = Annotated[
    PhoneNumber,
    Path(
        description="E.164, '+' then 8 to 15 digits ('%2B' also works for the '+')",
        examples=["+14155550123"],
    ),
]


def _source(client: str, given: str | None, width: int) -> str:
    """Who said so: the client, and where it says the request came from, cut to the column."""
    return (f"api:{client}" + (f":{given}" if given else ""))[:width]


async def _status(services: ServicesDep, phone: str) -> NumberStatusOut:
    status = await asyncio.to_thread(registry.number_status, services.db, phone)
    return NumberStatusOut(
        phone=status.phone,
        opted_out=status.opted_out,
        opted_out_at=status.opted_out_at,
        opt_out_source=status.opt_out_source,
        do_not_call_lists=list(status.do_not_call_lists),
        consents=[
            ConsentOut(
                purpose=c.purpose,
                source=c.source,
                granted_at=c.granted_at,
                revoked_at=c.revoked_at,
                in_force=c.revoked_at is None,
            )
            for c in status.consents
        ],
    )


@router.post(
    "/opt-outs",
    status_code=200,
    summary="Record that a number must not be called again",
    response_description="The number's status, opted out (also when it already was)",
)
async def create_opt_out(
    body: Annotated[OptOutRequest, Body()], client: ApiClient, services: ServicesDep
) -> NumberStatusOut:
    """Takes effect at once for every purpose; queued callbacks to the number are refused."""
    await asyncio.to_thread(
        record_opt_out,
        services.db,
        phone=body.phone,
        call_id=None,
        source=_source(client, None, 32),
        reason=body.reason,
    )
    return await _status(services, body.phone)


@router.get(
    "/consents/{phone}",
    summary="A number's opt-out, do-not-call lists and consents",
    response_description="The number's status",
)
async def get_number(phone: Phone, client: ApiClient, services: ServicesDep) -> NumberStatusOut:
    """All the registry holds about the number, as the gate will read it."""
    return await _status(services, phone)


@router.put(
    "/consents/{phone}/{purpose}",
    summary="Record consent to calls for a purpose",
    response_description="The number's status",
)
async def grant(
    phone: Phone,
    purpose: Purpose,
    body: Annotated[ConsentGrant, Body()],
    client: ApiClient,
    services: ServicesDep,
) -> NumberStatusOut:
    """Idempotent: a grant while consent is in force keeps the first one."""
    await asyncio.to_thread(
        registry.grant_consent,
        services.db,
        phone,
        purpose,
        _source(client, body.source, 64),
        body.at or datetime.now(UTC),
    )
    return await _status(services, phone)


@router.delete(
    "/consents/{phone}/{purpose}",
    summary="Withdraw consent to calls for a purpose",
    response_description="The number's status",
)
async def withdraw(
    phone: Phone, purpose: Purpose, client: ApiClient, services: ServicesDep
) -> NumberStatusOut:
    """Takes effect at once; repeatable."""
    await asyncio.to_thread(
        registry.revoke_consent,
        services.db,
        phone,
        purpose,
        _source(client, None, 64),
        datetime.now(UTC),
    )
    return await _status(services, phone)
