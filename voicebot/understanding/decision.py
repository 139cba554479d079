"""One caller turn -> the one intent the bot acts on, or none (ask again).

The classifier gives probabilities; this module turns them into a decision
with the safety rules of the product, which no amount of data should be
trusted to learn:

- **Opt-out beats everything, and is never missed for want of confidence.**
  Any clause of the turn that the model finds an opt-out at
  ``Thresholds.opt_out`` (deliberately low), or that the opt-out rule matches,
  makes the turn an opt-out. A wrongly honoured opt-out costs a phone call; a
  missed one breaks the law.
- **A confirmation must be unanimous.** ``affirm`` is decided only when the
  whole turn is an affirmation at ``Thresholds.affirm``, no clause of it leans
  to any request, denial, doubt or question (``Thresholds.compete`` for the
  whole turn, ``compete_clause`` for a clause alone, which is noisier), and no
  hard veto (negation, doubt, hedge words) is in it. A yes to a question that
  is not a yes/no question (a rating, a comment, a time) affirms nothing. Otherwise the bot asks
  again: abstaining costs one more question, a false "confirmed" costs a
  customer their money.
- **Not sure is not an answer.** Below ``Thresholds.decide`` the decision is
  ``none`` and the dialog asks again, offers the keypad, or hands over.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from voicebot.understanding.classifier import IntentClassifier
from voicebot.understanding.corpus import INTENTS

NONE = "none"
RECENT = 1024  # decisions remembered, for the final words of a turn already read in its pause
# The questions a "yes" answers; elsewhere an affirmation is just words ("other").
YES_NO_KINDS = frozenset({"identity", "yes_no"})
# Intents that end a call with an outcome when they answer its question.
OUTCOME_INTENTS = frozenset({"deny", "unsure"})
# Intents that compete with a confirmation: anything but affirm and "other".
_COMPETING = tuple(i for i in INTENTS if i not in ("affirm", "other"))


@dataclass(frozen=True)
class Thresholds:
    """Chosen on the training split's cross-validation (docs/understanding.md)."""

    decide: float = 0.35  # below this for the top intent: none
    # A no or a "not sure" ends a call with an outcome (denied, unsure, wrong person):
    # it needs more than a request does ("the kitchen table is blue" was unsure at 0.38).
    outcome: float = 0.5
    affirm: float = 0.85  # an affirmation needs at least this
    compete: float = 0.2  # the whole turn this likely to be another intent: no affirmation
    compete_clause: float = 0.8  # one clause this likely to be another intent: no affirmation
    opt_out: float = 0.3  # the turn or any clause this likely to be an opt-out is one


@dataclass(frozen=True)
class Decision:
    intent: str  # one of INTENTS, or NONE
    probability: float  # the whole turn's probability of ``intent`` (0 for NONE)
    scope: str | None = None  # opt-out only: "feedback" / "transaction_confirmation" / None = all
    reason: str = ""  # why, when a rule or a veto decided
    top: str = NONE  # the model's most likely intent for the whole turn, whatever was decided


def clauses(text: str) -> list[str]:
    """The parts of a turn a person could mean separately: sentences, comma clauses, 'but'."""
    parts = re.split(r"[.!?;,]+|\s+(?:but|except|although|though|however)\s+", text)
    return [p.strip() for p in parts if p and re.search(r"[A-Za-z0-9]", p)]


# -- rules that stay rules ------------------------------------------------------

_CALL = r"(call|ring|phone|contact|bother)"
# The opt-out net: plain ways of saying it that must never depend on a model.
# "start calling me" is Whisper tiny.en's usual hearing of "please stop calling me".
_OPT_OUT = re.compile(
    rf"\b(stop|start|quit|cease) {_CALL}ing\b|"
    r"\b(no more|stop (the|these|your|all)|enough( with)?( the| these| your| all)?) "
    r"(calls|phone calls|robocalls|surveys)\b|"
    rf"\b(don'?t|do not|never) (ever )?{_CALL} (me|us|this number|here)( \w+)?"
    r"( again| anymore| any more| ever)\b|"
    r"\bdo not call list\b|\bunsubscribe\b|\bopt(ing)? (me )?out\b|"
    r"\b(take|remove|delete|drop|erase|get) (me|my (phone )?number|this number) (off|from)\b|"
    r"\blose my number\b|\bleave me alone\b"
)
# Words that undo a "yes" anywhere in a turn: negation, doubt, hedging.
_VETO = re.compile(
    r"\b(no|nope|nah|not|never|none|nothing|nobody|n't|didn'?t|wasn'?t|isn'?t|don'?t|doesn'?t|"
    r"haven'?t|hasn'?t|won'?t|can'?t|cannot|couldn'?t|wouldn'?t|ain'?t|wrong|fraud|stolen|"
    r"scam|unauthori[sz]ed|hacked|unsure|maybe|perhaps|might|guess|suppose|probably|possibly|"
    r"dunno|think|believe|reckon|wait|hold on|hang on|actually|who|why|how|what|which|"
    # Whisper's hearings of "not" on a phone line ("that's nod me").
    r"nod|knot)\b"
)
# Someone else did it: "yes, my son bought it" is doubt about who paid, not a yes.
_SOMEONE_ELSE = re.compile(
    r"\b(my|our|the) (wife|husband|partner|son|daughter|kids?|child|children|mom|mum|mother|"
    r"dad|father|brother|sister|boyfriend|girlfriend|family|roommate|flatmate|assistant|"
    r"friend|boss|colleague|secretary|nephew|niece|grandson|granddaughter)('s)? "
    r"(did|does|made|makes|bought|buys|got|gets|paid|pays|used|uses|spent|sent|ordered|booked|"
    r"might|may|must|probably|could|would|has|had|handles|borrowed|borrows)\b"
)
# Whisper's "yeah, no worries" and "no problem" are not negations; nothing else is excused.
_EXCUSED = re.compile(r"\bno (problem|worries)\b")
# A scope is read only where the words say it plainly; a doubtful one is every purpose.
_SCOPE_FEEDBACK = re.compile(r"\b(surveys?|feedback|questionnaires?|ratings?|polls?|to rate)\b")
_PAYMENT = r"(payments?|transactions?|purchases?|charges?|spending|fraud|security)"
_SCOPE_PAYMENTS = re.compile(
    rf"\b{_PAYMENT}( \w+)? (calls?|checks?|alerts?|confirmations?)\b|"
    r"\b(about|for|regarding|over|to confirm|confirming|to check|checking) "
    rf"(my |these |the |your |every |each |all |any )?(\w+ )?{_PAYMENT}"
)


def opt_out_rule(text: str) -> bool:
    return _OPT_OUT.search(" ".join(_words(text))) is not None


def vetoed(text: str) -> str | None:
    """The word that forbids reading ``text`` as a yes, if any."""
    words = _EXCUSED.sub(" ", " ".join(_words(text)))
    match = _VETO.search(words) or _SOMEONE_ELSE.search(words)
    return match.group(0) if match else None


def opt_out_scope(text: str) -> str | None:
    """The purpose a scoped opt-out names; None means every purpose (the safe reading)."""
    words = " ".join(_words(text))
    feedback = _SCOPE_FEEDBACK.search(words) is not None
    payments = _SCOPE_PAYMENTS.search(words) is not None
    if feedback == payments:  # neither, or both: every purpose
        return None
    return "feedback" if feedback else "transaction_confirmation"


def _words(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'")
    return re.sub(r"[^a-z0-9' ]+", " ", text).split()


# -- the decision ---------------------------------------------------------------


class Understanding:
    """Decides a turn's intent from the classifier and the rules above."""

    def __init__(self, classifier: IntentClassifier, thresholds: Thresholds | None = None) -> None:
        self.classifier = classifier
        self.thresholds = thresholds or Thresholds()
        # The words of a pause are usually the turn's final words too: decided once.
        self._recent: OrderedDict[tuple[str, str], Decision] = OrderedDict()
        self._lock = threading.Lock()

    def decide(self, text: str, expect: str) -> Decision:
        key = (text, expect)
        with self._lock:
            if key in self._recent:
                self._recent.move_to_end(key)
                return self._recent[key]
        decision = self.decide_many([text], [expect])[0]
        with self._lock:
            self._recent[key] = decision
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)
        return decision

    def decide_many(self, texts: Sequence[str], expects: Sequence[str]) -> list[Decision]:
        """Decisions for many turns, their clauses classified in one batch."""
        parts: list[str] = []
        owners: list[int] = []
        for i, text in enumerate(texts):
            pieces = clauses(text)
            for piece in [text, *(pieces if len(pieces) > 1 else [])]:
                parts.append(piece)
                owners.append(i)
        probs = self.classifier.probabilities(parts, [expects[i] for i in owners])
        by_turn: dict[int, list[np.ndarray]] = {}
        for row, owner in zip(probs, owners, strict=True):
            by_turn.setdefault(owner, []).append(row)
        return [
            combine(texts[i], expects[i], by_turn[i], self.thresholds) for i in range(len(texts))
        ]


def combine(text: str, expect: str, rows: Sequence[np.ndarray], t: Thresholds) -> Decision:
    """``rows[0]``: the whole turn's probabilities; the rest: its clauses'."""
    if not text.strip():
        return Decision(NONE, 0.0)
    whole = rows[0]
    opt = INTENTS.index("opt_out")
    if max(float(r[opt]) for r in rows) >= t.opt_out or opt_out_rule(text):
        reason = "" if max(float(r[opt]) for r in rows) >= t.opt_out else "opt-out rule"
        top = INTENTS[int(np.argmax(whole))]
        return Decision("opt_out", float(whole[opt]), opt_out_scope(text), reason, top)
    best = int(np.argmax(whole))
    intent, p = INTENTS[best], float(whole[best])
    if p < t.decide:
        return Decision(NONE, 0.0, reason=f"unsure between intents ({intent} {p:.2f})", top=intent)
    if intent in OUTCOME_INTENTS and p < t.outcome:
        return Decision(NONE, 0.0, reason=f"{intent} only {p:.2f}", top=intent)
    if intent != "affirm":
        return Decision(intent, p, top=intent)
    if expect not in YES_NO_KINDS:
        return Decision("other", p, reason="a yes where no yes/no was asked", top=intent)
    if p < t.affirm:
        return Decision(NONE, 0.0, reason=f"affirm only {p:.2f}", top=intent)
    for i, row in enumerate(rows):
        for other in _COMPETING:
            if float(row[INTENTS.index(other)]) >= (t.compete if i == 0 else t.compete_clause):
                where = "the turn" if i == 0 else "a clause"
                return Decision(NONE, 0.0, reason=f"{where} leans to {other}", top=intent)
    veto = vetoed(text)
    if veto is not None:
        return Decision(NONE, 0.0, reason=f"veto {veto!r}", top=intent)
    return Decision("affirm", p, top=intent)
