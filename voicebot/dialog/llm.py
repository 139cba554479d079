"""Optional LLM help for free speech that the keyword rules did not understand.

The offline classifiers in ``understanding`` always run first; this assistant is
asked only when they found nothing. It names one of the intents the current
question allows, or nothing, and the dialog flow still decides what happens: a
label outside the allowed ones is dropped. Any timeout or error means "no
answer", so a slow or broken endpoint costs at most ``llm_timeout_s`` and never
ends a call. The caller's words arrive here already redacted; they are sent to
the endpoint but never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from openai import APITimeoutError, AsyncOpenAI

from voicebot.config import Settings
from voicebot.errors import DialogError

logger = logging.getLogger(__name__)

PROMPT_FILE = Path("llm") / "intent.yaml"
# One label, or a small JSON object holding one: a longer reply is not an answer.
MAX_TOKENS = 16
# Local OpenAI-compatible servers need no key, but the client refuses an empty one.
NO_KEY = "not-needed"

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
_NOT_LABEL = re.compile(r"[^a-z_]+")


@dataclass(frozen=True)
class IntentPrompt:
    """The system prompt, sent as written, and the user template filled per answer."""

    system: str
    user: str

    def user_message(
        self, *, question: str, answer: str, allowed: Sequence[str], locale: str
    ) -> str:
        values = {
            "question": question,
            "answer": answer,
            "allowed": ", ".join(allowed),
            "locale": locale,
        }
        return string.Formatter().vformat(self.user, (), values)


def load_intent_prompt(prompts_dir: Path) -> IntentPrompt:
    """Load ``prompts/llm/intent.yaml``; a broken file fails start-up, not a call."""
    path = prompts_dir / PROMPT_FILE
    if not path.exists():
        raise DialogError(f"no LLM intent prompt ({path})")
    with path.open() as f:
        raw = yaml.safe_load(f)
    if not (
        isinstance(raw, dict)
        and isinstance(raw.get("system"), str)
        and isinstance(raw.get("user"), str)
    ):
        raise DialogError(f"{path}: expected the keys 'system' and 'user' with text")
    prompt = IntentPrompt(system=raw["system"].strip(), user=raw["user"].strip())
    try:
        prompt.user_message(question="", answer="", allowed=(), locale="")
    except (KeyError, IndexError, ValueError) as e:
        raise DialogError(f"{path}: bad placeholder in 'user': {e}") from e
    for needed in ("{question}", "{answer}", "{allowed}"):
        if needed not in prompt.user:
            raise DialogError(f"{path}: 'user' must contain {needed}")
    return prompt


def parse_label(reply: str) -> str:
    """The one label in a reply: ``affirm``, ``"Affirm."``, or ``{"intent": "affirm"}``.

    Anything longer than one label (an explanation, a sentence) parses to a
    string that matches no intent, so it is dropped rather than guessed at.
    """
    text = _FENCE.sub("", reply.strip()).strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return ""
        value = data.get("intent") if isinstance(data, dict) else None
        text = value if isinstance(value, str) else ""
    words = _NOT_LABEL.sub(" ", text.lower().replace("-", "_")).split()
    return "_".join(words)


class IntentAssistant:
    """Asks an OpenAI-compatible chat endpoint which allowed intent an answer means."""

    def __init__(
        self, *, client: AsyncOpenAI, model: str, prompt: IntentPrompt, deadline_s: float
    ) -> None:
        self._client = client
        self._model = model
        self._prompt = prompt
        self._deadline_s = deadline_s

    @classmethod
    def from_settings(
        cls, settings: Settings, prompts_dir: Path | None = None
    ) -> IntentAssistant | None:
        """The assistant, or None when no LLM base URL is configured (the default)."""
        if not settings.llm_base_url:
            return None
        client = AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value() or NO_KEY,
            timeout=settings.llm_timeout_s,
            max_retries=0,
        )
        return cls(
            client=client,
            model=settings.llm_model,
            prompt=load_intent_prompt(prompts_dir or settings.prompts_dir),
            deadline_s=settings.llm_timeout_s,
        )

    async def classify(
        self, *, question: str, answer: str, allowed: Sequence[str], locale: str = "en-US"
    ) -> str | None:
        """One of ``allowed``, or None for "no answer" (none, doubt, off-list, any failure)."""
        # "none" is never an answer, even if a caller lists it.
        labels = {label.lower(): label for label in allowed if label.lower() != "none"}
        if not labels or not answer.strip():
            return None
        try:
            reply = await asyncio.wait_for(
                self._ask(question=question, answer=answer, allowed=list(labels), locale=locale),
                timeout=self._deadline_s,
            )
        except (TimeoutError, APITimeoutError):
            logger.warning(
                "LLM intent help timed out after %.1f s; going on without it", self._deadline_s
            )
            return None
        except Exception as e:  # an optional helper must never end a call
            # Only the error's type and status: its message may echo the request.
            logger.warning(
                "LLM intent help failed (%s, status %s); going on without it",
                type(e).__name__,
                getattr(e, "status_code", None),
            )
            return None
        label = parse_label(reply)
        if label not in labels:
            if label != "none":
                logger.info("LLM intent help gave no allowed label; ignored")
            return None
        return labels[label]

    async def _ask(self, *, question: str, answer: str, allowed: list[str], locale: str) -> str:
        user = self._prompt.user_message(
            question=question, answer=answer, allowed=allowed, locale=locale
        )
        completion = await self._client.chat.completions.create(
            model=self._model,
            messages=[
                {"role": "system", "content": self._prompt.system},
                {"role": "user", "content": user},
            ],
            temperature=0,
            max_tokens=MAX_TOKENS,
        )
        if not completion.choices:
            return ""
        return completion.choices[0].message.content or ""

    async def aclose(self) -> None:
        """Close the HTTP connections; called when the process's services close."""
        await self._client.close()
