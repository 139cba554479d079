"""A whole outbound campaign, simulated: callbacks API -> gate -> workers -> Twilio REST -> calls.

Everything is the product's own code on real Redis and SQL: the server (with
the models) on loopback, the wallet backend's requests through ``/v1``, opt-outs
by signed SMS webhook, a do-not-call list import, dialer workers on arq, and the
official ``twilio`` client pointed at ``TwilioRestSimulator``, which rings each
entry's person and plays the call as ``voicebot simulate`` does. Only time is
compressed (backoff of seconds, a sweep every few seconds).

``voicebot demo --campaign`` runs ``demo/campaign.yaml`` and prints the table;
``tests/e2e/test_campaign.py`` runs it too, once with Redis restarted midway.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from voicebot.api.auth import hash_key, new_api_key
from voicebot.config import Settings
from voicebot.consent.registry import import_dnc_csv
from voicebot.dialer import ledger
from voicebot.dialer.ledger import FALLBACK
from voicebot.dialer.worker import build_worker
from voicebot.errors import ScenarioError
from voicebot.records import callbacks as records
from voicebot.records.calls import get_call
from voicebot.records.db import Database
from voicebot.simulator.carrier import TwilioCarrier
from voicebot.simulator.rest import TwilioRestSimulator
from voicebot.simulator.runner import InProcessServer
from voicebot.simulator.scenario import Scenario

CLIENT = "campaign-demo"
FINAL_STATES = frozenset({"completed", "refused", "cancelled", "failed"})
PLACEHOLDER_DNC = "+12025550000"  # a list is never empty (an empty import is refused)
DAYTIME = range(10, 18)  # inside 08-21 with hours to spare
NIGHT = range(0, 5)
POLL_S = 0.5

Setup = Literal["sms_stop", "dnc", "consent", "night"]


def default_campaign_path() -> Path:
    return Path(str(resources.files("voicebot.simulator").joinpath("demo/campaign.yaml")))


def zone_at_local_hour(hours: range, now: datetime | None = None) -> str:
    """A fixed-offset zone where it is now one of ``hours`` local time."""
    now = now or datetime.now(UTC)
    for offset in range(-12, 15):
        name = f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}" if offset else "Etc/UTC"
        if now.astimezone(ZoneInfo(name)).hour in hours:
            return name
    raise ValueError(f"no zone where the hour is now in {hours}")


class EntryExpect(BaseModel):
    """How a callback must end."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["queued", "completed", "refused", "cancelled", "failed"]
    outcome: str | None = None
    reason: str | None = None
    attempts: int | None = None


class CampaignEntry(BaseModel):
    """One callback of the campaign, and the person who answers it."""

    model_config = ConfigDict(extra="forbid")

    label: str
    scenario: Scenario | None = None
    duplicate_of: str | None = None
    setup: list[Setup] = Field(default_factory=list)
    earliest_in_s: float | None = Field(default=None, ge=0, description="earliest_at, from now")
    expect: EntryExpect

    @model_validator(mode="after")
    def _one_of(self) -> CampaignEntry:
        if (self.scenario is None) == (self.duplicate_of is None):
            raise ValueError(f"{self.label}: give either a scenario or duplicate_of")
        return self


class Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    callbacks: list[CampaignEntry]

    @model_validator(mode="after")
    def _references(self) -> Campaign:
        labels = [e.label for e in self.callbacks]
        if len(set(labels)) != len(labels):
            raise ValueError("campaign labels must be unique")
        for entry in self.callbacks:
            if entry.duplicate_of is not None and entry.duplicate_of not in labels:
                raise ValueError(f"{entry.label}: duplicate_of {entry.duplicate_of!r} is unknown")
        return self


def load_campaign(path: Path) -> Campaign:
    try:
        return Campaign.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, ValueError) as e:
        raise ScenarioError(f"{path}: {e}") from e


@dataclass
class EntryResult:
    """How one callback ended, next to how it had to."""

    label: str
    callback_id: str
    http_status: int
    state: str = "queued"
    attempts: list[str] = field(default_factory=list)
    outcome: str | None = None
    reasons: list[str] = field(default_factory=list)
    next_try: datetime | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """Calls that may have rung (as the gate's caps count them)."""
        return sum(
            1 for a in self.attempts if a not in ledger.NOT_PLACED and not a.startswith(FALLBACK)
        )

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class CampaignReport:
    entries: list[EntryResult]
    calls_placed: int
    seconds: float

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.entries)

    def table(self) -> str:
        """The per-callback table and the totals: dialed, refused by reason, outcomes."""
        rows = [("callback", "state", "calls", "outcome / gate", "check")]
        for e in self.entries:
            detail = e.outcome or ", ".join(e.reasons) or "-"
            if e.state == "queued" and e.next_try is not None:
                detail += f" (next try {e.next_try:%Y-%m-%d %H:%M} UTC)"
            if e.http_status == 200:
                detail += " [same event id: merged]"
            rows.append((e.label, e.state, str(e.calls), detail, "ok" if e.passed else "FAIL"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        unique = [e for e in self.entries if e.http_status != 200]
        refused = Counter(r for e in unique if e.state in ("refused", "queued") for r in e.reasons)
        outcomes = Counter(e.outcome for e in unique if e.outcome)
        lines += [
            "",
            f"requests: {len(self.entries)}, callbacks: {len(unique)} "
            f"({len(self.entries) - len(unique)} duplicate merged)",
            f"calls placed: {self.calls_placed}",
            "refused by reason: " + (_counts(refused) or "none"),
            "outcomes: " + (_counts(outcomes) or "none"),
            f"took {self.seconds:.0f} s",
        ]
        for e in self.entries:
            lines += [f"FAIL {e.label}: {f}" for f in e.failures]
        return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))


Progress = Callable[[str], None]
Hook = Callable[["CampaignRun"], Coroutine[Any, Any, None]]


def campaign_settings(settings: Settings) -> tuple[Settings, str]:
    """The settings a campaign runs with, and the API key its backend uses.

    Time is compressed so a campaign takes a minute: seconds of backoff, a sweep
    every 5 s. A fresh Redis prefix keeps its jobs apart from anything else.
    """
    key = new_api_key()
    updated = settings.model_copy(
        update={
            "api_keys": {CLIENT: hash_key(key)},
            "redis_prefix": f"campaign-{secrets.token_hex(4)}",
            "dial_queue_name": "",
            "dial_retry_backoff_s": [3.0],
            "dial_calls_per_second": 2.0,
            "dial_max_concurrent": 4,
            "dial_sweep_every_s": 5,
            "dial_sweep_grace_s": 5.0,
            "dial_reserve_timeout_s": 20.0,
            "fallback_webhook_url": "",
        }
    )
    return updated, key


class CampaignRun:
    """One run: the server, Twilio's side, the workers; ``run()`` returns the report."""

    def __init__(
        self,
        settings: Settings,
        campaign: Campaign,
        *,
        workers: int = 2,
        on_progress: Progress | None = None,
        timeout_s: float = 300.0,
        out_dir: Path | None = None,
    ) -> None:
        self.settings, self._key = campaign_settings(settings)
        self.campaign = campaign
        self.workers = workers
        self.say = on_progress or (lambda _: None)
        self.timeout_s = timeout_s
        self.out_dir = out_dir
        self.started = time.monotonic()
        self.results: dict[str, EntryResult] = {}
        self.db: Database | None = None
        self._seen: dict[str, str] = {}

    def log(self, label: str, text: str) -> None:
        self.say(f"[{time.monotonic() - self.started:6.1f}s] {label:<24} {text}")

    async def run(self, hook: Hook | None = None) -> CampaignReport:
        """Set up, request every callback, run workers until all have settled.

        ``hook`` runs once, beside the workers (a test restarts Redis in it).
        """
        server = InProcessServer(self.settings)
        await asyncio.to_thread(server.start)
        rest = TwilioRestSimulator(server.settings, out_dir=self.out_dir)
        try:
            await asyncio.to_thread(rest.start)
            self.settings = server.settings.model_copy(update={"twilio_api_base_url": rest.url})
            self.db = Database(self.settings.database_url)
            await asyncio.to_thread(self.db.create_tables)
            people = self._people(datetime.now(UTC))
            for scenario in people.values():
                rest.expect_call(scenario)
            self.say("setting up: opt-outs, the do-not-call list, consents")
            await self._set_up(people)
            self.say("the wallet backend asks for the callbacks (POST /v1/callbacks)")
            await self._request(people)
            return await self._work(rest, hook)
        finally:
            await asyncio.to_thread(rest.stop)
            await asyncio.to_thread(server.stop)
            if self.db is not None:
                self.db.engine.dispose()

    def _people(self, now: datetime) -> dict[str, Scenario]:
        """Each entry's scenario, its customer placed in a day or night zone."""
        day, night = zone_at_local_hour(DAYTIME, now), zone_at_local_hour(NIGHT, now)
        people: dict[str, Scenario] = {}
        for entry in self.campaign.callbacks:
            if entry.scenario is None:
                continue
            zone = night if "night" in entry.setup else day
            customer = entry.scenario.customer.model_copy(update={"timezone": zone})
            people[entry.label] = entry.scenario.model_copy(update={"customer": customer})
        return people

    async def _set_up(self, people: dict[str, Scenario]) -> None:
        assert self.db is not None
        base = self.settings.public_base_url
        carrier = TwilioCarrier(
            base,
            self.settings.twilio_auth_token.get_secret_value(),
            self.settings.twilio_account_sid,
        )
        dnc = [PLACEHOLDER_DNC]
        try:
            async with self._api() as api:
                for entry in self.campaign.callbacks:
                    person = people.get(entry.label)
                    if person is None:
                        continue
                    phone = person.customer.phone
                    if "sms_stop" in entry.setup:
                        response = await carrier.post(
                            "/twilio/sms",
                            {
                                "MessageSid": "SM" + secrets.token_hex(16),
                                "AccountSid": self.settings.twilio_account_sid,
                                "From": phone,
                                "To": self.settings.caller_ids[0],
                                "Body": "STOP",
                            },
                        )
                        response.raise_for_status()
                        self.log(entry.label, f"texted STOP from {phone}")
                    if "consent" in entry.setup:
                        path = f"/v1/consents/{phone}/{person.purpose}"
                        response = await api.put(path, json={"source": "app_settings"})
                        response.raise_for_status()
                        self.log(entry.label, f"consent to {person.purpose} recorded")
                    if "dnc" in entry.setup:
                        dnc.append(phone)
        finally:
            await carrier.close()
        listed = await asyncio.to_thread(
            import_dnc_csv,
            self.db,
            "internal",
            "phone\n" + "\n".join(dnc) + "\n",
            "campaign demo",
            datetime.now(UTC),
        )
        self.say(f"do-not-call list 'internal' imported: {listed.entries} numbers")

    def _api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.settings.public_base_url,
            headers={"Authorization": f"Bearer {self._key}"},
            timeout=30.0,
        )

    async def _request(self, people: dict[str, Scenario]) -> None:
        bodies: dict[str, dict[str, Any]] = {}
        async with self._api() as api:
            for entry in self.campaign.callbacks:
                if entry.duplicate_of is not None:
                    body = bodies[entry.duplicate_of]
                else:
                    body = callback_request(people[entry.label], entry.earliest_in_s)
                bodies[entry.label] = body
                response = await api.post("/v1/callbacks", json=body)
                if response.status_code not in (200, 202):
                    raise ScenarioError(
                        f"{entry.label}: the callbacks API answered {response.status_code}: "
                        f"{response.text}"
                    )
                callback_id = response.json()["id"]
                self.results[entry.label] = EntryResult(
                    entry.label, callback_id, response.status_code
                )
                what = "accepted" if response.status_code == 202 else "same event id: merged"
                self.log(entry.label, f"{response.status_code} {what} ({callback_id})")

    async def _work(self, rest: TwilioRestSimulator, hook: Hook | None) -> CampaignReport:
        """Workers run until every callback has settled; then the verdicts."""
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(self._worker(stop), name=f"worker-{i}") for i in range(self.workers)
        ]
        self.say(f"{self.workers} dialer workers started")
        hook_task = asyncio.create_task(hook(self)) if hook is not None else None
        try:
            deadline = time.monotonic() + self.timeout_s
            while True:
                await self._observe()
                hook_done = hook_task is None or hook_task.done()
                if hook_done and self._settled() and not rest.on_the_line():
                    break
                if time.monotonic() > deadline:
                    self.say(f"timed out after {self.timeout_s:.0f} s")
                    break
                await asyncio.sleep(POLL_S)
            if hook_task is not None and hook_task.done():
                hook_task.result()  # a failed hook fails the run
        finally:
            stop.set()
            if hook_task is not None and not hook_task.done():
                hook_task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._observe()
        return self._report(rest)

    async def _worker(self, stop: asyncio.Event) -> None:
        """One arq worker, as ``voicebot worker`` runs it, until the campaign is over."""
        worker = build_worker(self.settings, handle_signals=False)
        run = asyncio.create_task(worker.async_run())
        await stop.wait()
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await worker.close()

    async def _observe(self) -> None:
        """Read every callback from SQL; print what changed."""
        assert self.db is not None
        db = self.db
        for result in self.results.values():
            stored = await asyncio.to_thread(
                records.get_callback, db, client=CLIENT, callback_id=result.callback_id
            )
            result.state = stored.state
            result.attempts = [a.status for a in stored.attempts]
            last = stored.gate_decisions[-1] if stored.gate_decisions else None
            result.reasons = list(last.reasons) if last is not None else []
            result.next_try = last.retry_at if last is not None and not last.allowed else None
            calls = [a.call_id for a in stored.attempts if a.call_id]
            if calls:
                record = await asyncio.to_thread(get_call, db, calls[-1])
                result.outcome = record["outcome"] if record is not None else None
            if result.http_status == 200:
                continue
            summary = self._summary(result)
            if self._seen.get(result.label) != summary:
                self._seen[result.label] = summary
                self.log(result.label, summary)

    @staticmethod
    def _summary(result: EntryResult) -> str:
        attempts = ", ".join(f"{i + 1}: {s}" for i, s in enumerate(result.attempts))
        text = result.state
        if result.state == "completed":
            text += f": {result.outcome}"
        elif result.reasons and result.state in ("refused", "queued"):
            text += f" (gate: {', '.join(result.reasons)})"
            if result.next_try is not None:
                text += f", next try {result.next_try:%Y-%m-%d %H:%M} UTC"
        return f"{text}{'  attempts ' + attempts if attempts else ''}"

    def _settled(self) -> bool:
        """Every callback has ended, or waits for a window hours away."""
        soon = datetime.now(UTC) + timedelta(minutes=5)
        return all(
            r.state in FINAL_STATES
            or (r.state == "queued" and r.next_try is not None and r.next_try > soon)
            for r in self.results.values()
        )

    def _report(self, rest: TwilioRestSimulator) -> CampaignReport:
        by_label = {e.label: e for e in self.campaign.callbacks}
        for result in self.results.values():
            entry = by_label[result.label]
            result.failures = _judge(entry.expect, result)
            scenario = entry.scenario
            if scenario is not None and entry.expect.state == "completed":
                verdict = rest.results.get(scenario.name)
                if verdict is None:
                    result.failures.append("the person's call never played")
                else:
                    result.failures += [f"call: {f}" for f in verdict.failures]
        return CampaignReport(
            entries=list(self.results.values()),
            calls_placed=len(rest.calls),
            seconds=time.monotonic() - self.started,
        )


def _judge(expect: EntryExpect, result: EntryResult) -> list[str]:
    failures = []
    if result.state != expect.state:
        failures.append(f"state {result.state}, expected {expect.state}")
    if expect.outcome is not None and result.outcome != expect.outcome:
        failures.append(f"outcome {result.outcome}, expected {expect.outcome}")
    if expect.reason is not None and expect.reason not in result.reasons:
        failures.append(f"gate reasons {result.reasons}, expected {expect.reason}")
    if expect.attempts is not None and result.calls != expect.attempts:
        failures.append(f"{result.calls} calls placed, expected {expect.attempts}")
    if expect.state == "queued" and result.next_try is None:
        failures.append("queued without a next try: it would be lost")
    return failures


def callback_request(person: Scenario, earliest_in_s: float | None = None) -> dict[str, Any]:
    """What the wallet backend sends for this person (``POST /v1/callbacks``)."""
    customer = person.customer
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "event_id": f"evt_{person.name}_{secrets.token_hex(4)}",
        "purpose": person.purpose,
        "customer": {
            "first_name": customer.first_name,
            "last_name": customer.last_name or None,
            "phone": customer.phone,
            "timezone": customer.timezone,
        },
        "deadline": (now + timedelta(days=2)).isoformat(),
    }
    if earliest_in_s is not None:
        body["earliest_at"] = (now + timedelta(seconds=earliest_in_s)).isoformat()
    if person.transaction is not None:
        body["transaction"] = person.transaction.model_dump(mode="json")
    if person.case_id is not None:
        body["case_id"] = person.case_id
    return body
