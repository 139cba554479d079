"""``/v1/calls`` and ``/v1/feedback``: supervisors and the product team read calls back.

Thin routes: who may read is ``Reviewer`` (supervisor or product role), the
queries are in ``voicebot.records.review``; their errors become 422s in
``voicebot.api.errors``. Transcripts were redacted before they were stored;
only supervisors see whole phone numbers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from voicebot.api.auth import Principal, Reviewer
from voicebot.api.callbacks import UNAUTHORIZED
from voicebot.api.schemas import (
    CallDetail,
    CallList,
    CallSummary,
    Cursor,
    FeedbackReport,
    Instant,
    Key,
    PhoneNumber,
    Problem,
    call_out,
    feedback_out,
)
from voicebot.deps import ServicesDep
from voicebot.errors import ReviewQueryError
from voicebot.records import review

FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "This key has neither the supervisor nor product role"}
}

router = APIRouter(prefix="/v1", tags=["review"], responses={**UNAUTHORIZED, **FORBIDDEN})

Since = Annotated[
    Instant | None,
    Query(
        description="from this time on (ISO 8601 with a zone offset)",
        examples=["2026-11-22T00:00:00Z"],
    ),
]
Until = Annotated[
    Instant | None,
    Query(
        description="before this time (exclusive; ISO 8601 with a zone offset)",
        examples=["2026-11-23T00:00:00+01:00"],
    ),
]


def _shows_phone(principal: Principal) -> bool:
    return "supervisor" in principal.roles


def _period(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and until <= since:
        raise ReviewQueryError("until", "must be after since")


@router.get("/calls", summary="Calls, newest first", response_description="One page of calls")
async def list_calls(
    principal: Reviewer,
    services: ServicesDep,
    purpose: Literal["transaction_confirmation", "feedback"] | None = None,
    outcome: Annotated[Key | None, Query(max_length=32, examples=["denied"])] = None,
    escalated: bool | None = None,
    in_progress: Annotated[
        bool | None, Query(description="true: answered and not yet ended (to listen in)")
    ] = None,
    phone: Annotated[
        PhoneNumber | None,
        Query(description="E.164; supervisors only", examples=["+14155550123"]),
    ] = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        Cursor | None,
        Query(
            max_length=200,
            description=(
                "opaque: the `next_cursor` of the previous page, unchanged "
                "(URL-safe base64, no padding)"
            ),
        ),
    ] = None,
) -> CallList:
    """Calls that match every filter given, without transcripts (`GET /v1/calls/{id}` has them)."""
    _period(since, until)
    if phone is not None and not _shows_phone(principal):
        raise HTTPException(status_code=403, detail="filtering by phone needs the supervisor role")
    where = review.CallFilter(
        purpose=purpose,
        outcome=outcome,
        escalated=escalated,
        phone=phone,
        in_progress=in_progress,
        since=since.astimezone(UTC) if since else None,
        until=until.astimezone(UTC) if until else None,
    )
    page = await asyncio.to_thread(
        review.list_calls, services.db, where, limit=limit, cursor=cursor
    )
    show = _shows_phone(principal)
    calls: list[CallSummary] = [call_out(v, show_phone=show) for v in page.calls]
    return CallList(calls=calls, next_cursor=page.next_cursor)


@router.get(
    "/calls/{call_id}",
    summary="One call with its transcript",
    response_description="The call and everything said in it (secrets redacted)",
    responses={404: {"model": Problem, "description": "No such call"}},
)
async def get_call(
    call_id: Annotated[Key, Path(max_length=64)], principal: Reviewer, services: ServicesDep
) -> CallDetail:
    """A call, how it ended, and its transcript as stored."""
    view = await asyncio.to_thread(review.call_detail, services.db, call_id)
    if view is None:
        raise HTTPException(status_code=404, detail=f"no call {call_id!r}")
    detail = call_out(view, show_phone=_shows_phone(principal))
    assert isinstance(detail, CallDetail)
    return detail


@router.get(
    "/feedback",
    summary="Feedback figures and comments",
    response_description="Ratings over the period, and the newest comments",
)
async def get_feedback(
    principal: Reviewer,
    services: ServicesDep,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=0, le=1000, description="items listed")] = 100,
) -> FeedbackReport:
    """Every feedback call in the period counted; the newest `limit` listed with their comments."""
    _period(since, until)
    report = await asyncio.to_thread(
        review.feedback_report,
        services.db,
        since=since.astimezone(UTC) if since else None,
        until=until.astimezone(UTC) if until else None,
        limit=limit,
    )
    return feedback_out(report)
