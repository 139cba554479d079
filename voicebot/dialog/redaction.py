"""Secrets a caller says aloud, taken out before the words are stored, logged or sent on.

We never ask for a card number, PIN, password or seed phrase, yet a worried
customer may read one out anyway. Whatever leaves the call (transcripts, logs,
a supervisor's screen, an LLM) gets ``redact(text).text`` instead: each secret
is replaced by ``[redacted <kind>]`` and the rest stays readable.

Recall beats precision here: an over-redacted comment is a small loss, a stored
seed phrase is an emptied wallet. So what follows a seed-phrase, password or
private-key cue is redacted to the end of the utterance (a spoken secret has no
reliable end, and Whisper's punctuation is no boundary), and any run of six or
more digits goes, cue or not.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from functools import cache

from mnemonic import Mnemonic

from voicebot.dialog.numbers import TENS

CARD_NUMBER = "card_number"
PIN = "pin"
PASSWORD = "password"
SEED_PHRASE = "seed_phrase"
PRIVATE_KEY = "private_key"
SECURITY_CODE = "security_code"  # CVV, one-time code, or a bare run of 6-7 digits


@dataclass(frozen=True)
class Redaction:
    """A text made safe, and what was taken out of it."""

    text: str  # safe to store, log, show, or send to an LLM
    kinds: tuple[str, ...]  # the kind of each placeholder written, in order, once each

    @property
    def found(self) -> bool:
        """Whether the caller said a secret (the dialog may want to warn them)."""
        return bool(self.kinds)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: str
    rank: int  # on overlap at the same start: a cue's reading beats a pattern's


_PLACEHOLDER = re.compile(r"\[redacted [a-z_]+\]")
_MASK = "\x00"  # placeholders already written are masked, so redacting twice changes nothing
_GAP = r"[^\w\x00]"  # what may stand between two words: spaces, punctuation, not a placeholder
_ALNUM = re.compile(r"[^\W_]")
_LEADING_GAP = re.compile(rf"{_GAP}*")

# -- cues after which the rest of the utterance is the secret ------------------

_CONNECTOR_WORDS = ("is", "are", "was", "were", "goes", "go", "reads", "it's", "its")
_CONNECTOR = re.compile(
    rf"(?:{_GAP}*(?:\b(?:{'|'.join(_CONNECTOR_WORDS)}|would be|will be|should be)\b|(?<!\d)[:=]))+",
    re.I,
)
_SEED_CUE = re.compile(
    # "seat / see / sea phrase": how Whisper hears "seed phrase" on a phone line.
    r"\b(?:(?:seed|seeds|seat|seats|see|sea|cede|recovery|secret|backup|back[\s-]up|mnemonic|"
    r"wallet|(?:twelve|12|twenty[\s-]four"
    r"|24)[\s-]word)[\s-]+(?:phrases?|words|sentences?)|mnemonic|(?:twelve|12|eighteen|18|"
    r"twenty[\s-]four|24) words)\b",
    re.I,
)
_WORDS_CUE = re.compile(r"\b(?:my|the|those|these) words\b", re.I)  # only with "are", "were"
_PASSWORD_CUE = re.compile(
    r"(?<!one time )(?<!one-time )\bpass[\s-]?(?:word|phrase|code)s?(?:'s)?\b", re.I
)
# "The password I use for the app is ...": up to six words before the verb.
_LATE_CONNECTOR = re.compile(
    rf"(?:{_GAP}+[\w']+){{0,6}}?{_GAP}*(?:\b(?:is|are|was|were|it's|would be|will be|"
    r"should be)\b|(?<!\d)[:=])",
    re.I,
)
_KEY_CUE = re.compile(
    r"\b(?:private|secret|wallet|signing|master|spending)[\s-]+keys?\b|\bxprv\b", re.I
)
# "hunter2": a word with letters and a digit in it.
_LOOKS_SECRET = re.compile(r"(?=\w*\d)(?=\w*[a-z])\w{4,}", re.I)

# -- cues after which the next number is the secret ----------------------------

_PIN_CUE = re.compile(r"\bpin(?:\s+(?:number|code|no))?\b", re.I)
_CODE_CUE = re.compile(
    r"\b(?:cvv2?|cvc2?|cv2|csc|otp|one[\s-]time[\s-](?:pass(?:word|code)|pin)|"
    r"(?<!zip )(?<!area )(?<!postal )(?<!post )(?<!country )(?<!promo )(?<!discount )code)\b",
    re.I,
)
_CUE_REACH = 5  # words between a PIN or code cue and its number ("my pin, it's, um, 1234")
_COUNTED = re.compile(
    r"\s+(?:minutes?|mins?|hours?|days?|weeks?|months?|years?|times|tries|attempts|digits?|"
    r"numbers|dollars?|cents?|euros?|pounds?|percent|people)\b",
    re.I,
)

# -- numbers, in numerals or in words -------------------------------------------

_DIGIT_WORDS = {
    "zero": 1,
    "one": 1,
    "two": 1,
    "three": 1,
    "four": 1,
    "five": 1,
    "six": 1,
    "seven": 1,
    "eight": 1,
    "nine": 1,
    "ten": 2,
    "eleven": 2,
    "twelve": 2,
    "thirteen": 2,
    "fourteen": 2,
    "fifteen": 2,
    "sixteen": 2,
    "seventeen": 2,
    "eighteen": 2,
    "nineteen": 2,
}
_TENS_WORDS = tuple(TENS)
# Count only between two digits: "oh" is also a sigh, "for" and "to" are mostly words,
# but "four one for one" is how Whisper writes a dictated card number.
_WEAK_WORDS = {
    "oh": 1,
    "o": 1,
    "to": 1,
    "too": 1,
    "for": 1,
    "fore": 1,
    "won": 1,
    "ate": 1,
    "free": 1,
    "tree": 1,
}
# "double four" is two digits: a prefix, so dropped only at the end of a run.
_REPEATERS = {"double": 1, "triple": 2}
_NUMBER_TOKEN = re.compile(
    r"(?P<num>(?<![\w$€£¥.,:/])\d+(?:[.,:/]\d+)*(?![\w%]))|\b(?P<word>"
    + "|".join([*_DIGIT_WORDS, *_TENS_WORDS, *_WEAK_WORDS, *_REPEATERS])
    + r")\b",
    re.I,
)
_RUN_GAP = re.compile(r"[\s,.\-–—/]*")
_NOT_DIGITS = re.compile(
    r"\d{1,2}:\d\d"  # a time
    # An amount: at most millions. Whisper writes dictated digits as "4,111,111,111,111,111".
    r"|\d{1,3}(?:,\d{3}){1,2}(?:\.\d\d?)?|\d+\.\d\d?"
    r"|\d{1,2}/\d{1,2}(?:/\d{2,4})?"  # a date, or "4/5"
)
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+")  # "4,111": an amount, unless dictated
_LONG_DIGITS = re.compile(r"\d{6,}")
_CARD_DIGITS = 8  # from here on a number is a card number; 6-7 digits, a code

# -- keys written out -------------------------------------------------------------

_HEX_KEY = re.compile(r"\b(?:0x)?(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{32,}\b", re.I)
_BASE58_KEY = re.compile(
    r"\b(?=[1-9A-HJ-NP-Za-km-z]*\d)(?=[1-9A-HJ-NP-Za-km-z]*[A-Za-z])[1-9A-HJ-NP-Za-km-z]{25,}\b"
)

# -- seed phrases without a cue ---------------------------------------------------

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_PHRASE_CUES = (_SEED_CUE, _WORDS_CUE, _KEY_CUE)
# Number words are BIP-39 words too, but "one one one one" is a number: they do not count.
_NUMBER_WORDS = frozenset([*_DIGIT_WORDS, *_TENS_WORDS, "hundred", "million", "double"])
# (BIP-39 words in a row, of which not everyday words): the longer the run, the
# less it takes, since speech seldom strings more than six of them together.
_SEED_RULES = ((5, 3), (8, 1), (12, 0))
# BIP-39 words that ordinary answers are made of ("yes that was me I made it about
# an hour ago"): a run of these alone is speech, not a seed phrase.
_EVERYDAY = """
about above account act actual add address advice afraid again age agent agree ahead all allow
almost alone already also always amazing amount another answer any apart appear april area around
arrive ask august aunt avoid awake aware away awesome awful baby balance bar basic because become
before begin behind believe below best better between beyond birth black blame blue board body
book boss bottom box boy brother brown budget bus business busy call can cancel car card carry case
cash catch caught cause certain change charge chat cheap check child choice choose city claim clean
close code coffee come common company confirm connect consider control cool copy correct cost
country couple course cousin cover crazy credit cup current custom dad damage day deal december
decide decline delay deliver deny deposit detail device dial differ digital dinner direct doctor
document dog door double dream drink drive drop during duty early earn easily easy edit eight
either else empty end enjoy enough ensure enter entire error evidence exact example exchange excuse
exit expect expire explain extra eye face fall false family fault favorite february fee feel few
figure file final find fine finish first fit fix follow food forget forward found friend front fun
funny future gas general gift girl give glad good great group guess guide half hand happy hard have
head health hello help high history hold holiday home hope hour huge human hundred hurry hurt
husband idea identify ignore image improve include income increase indicate inform inside install
interest into invest invite issue item job join joke just keep key kid kind know large later laugh
law leave left legal letter level life light like limit link list little live loan local lock long
loud love lucky lunch machine mad mail main major make man manage march market match matter mean
media member memory mention menu message method middle midnight million mind minute miss mistake
mobile mom moment month more morning mother move much must myself name near need never news next
nice night nothing notice now number object obvious october off offer office often okay old once
one online only open opinion option order ordinary original other outside over own owner page pair
paper parent party pass payment people perfect person phone photo picture piece place play please
point police possible post power prefer present pretty price print private problem process profit
program proof protect proud provide public purchase purpose put question quick quit quote rather
ready real reason recall receive record reduce refuse regular reject remain remember remind remove
rent repair repeat replace report require response result return review right ring risk room round
rule run sad safe same save say school screen search second secret security sell sense service
session seven share shop short side sign similar simple since sister six size slow small smart
someone soon sorry sort sound speak special spend start state stay step still stock story street
strong stuff subject submit success such sudden sugar suggest summer super supply sure surprise
suspect switch system table talk task team tell ten test text thank that then there they thing this
thought three ticket time tiny tip tired today together tomorrow tonight top total track trade
transfer travel trip trouble true truly trust truth try turn twelve twenty twice two type typical
under unfair unit unknown until unusual update upgrade upon upset use used useful usual valid verify
very video view visit voice wait walk want warm waste way wear weekend weird welcome what when where
wife will win wish woman wonder word work world worry worth write wrong year you young zero
"""
EVERYDAY_BIP39 = frozenset(_EVERYDAY.split())


@cache
def bip39_words() -> frozenset[str]:
    """The BIP-39 English wordlist, as shipped by the ``mnemonic`` package."""
    return frozenset(Mnemonic("english").wordlist)


def _mask(text: str) -> str:
    """Same length as ``text``: placeholders blanked, apostrophes unified."""
    masked = _PLACEHOLDER.sub(lambda m: _MASK * len(m[0]), text)
    return masked.replace("\u2019", "'")


def _to_end(masked: str, start: int, kind: str) -> _Span | None:
    """From ``start`` to the end of the utterance, less spaces and the closing punctuation."""
    while start < len(masked) and masked[start].isspace():
        start += 1
    end = len(masked.rstrip().rstrip(".?!,;"))
    if not _ALNUM.search(masked, start, end):
        return None
    return _Span(start, end, kind, 0)


def _seed_follows(masked: str, start: int, *, stems: bool = False) -> bool:
    """After "seed phrase" with no "is": the phrase itself, or a hesitation before it.

    "My seed phrase, um, abandon ability" is a phrase; "I never shared my seed
    phrase with anyone" is not.
    """
    tail = masked[start:].split(_MASK, 1)[0]
    following = [w.lower() for w in _WORD.findall(tail)[:4]]
    words = bip39_words()
    return bool(following) and (
        following[0] in words
        or any(w in words and w not in EVERYDAY_BIP39 for w in following)
        or (stems and any(_bip39_stem(w) for w in following))
        or any(w in _CONNECTOR_WORDS for w in following)
    )


def _bip39_stem(word: str) -> bool:
    """A misheard seed word: BIP-39 words are unique in their first four letters,
    and Whisper keeps the stem ("abandon" -> "abandoned")."""
    return len(word) >= 4 and word not in EVERYDAY_BIP39 and word[:4] in _bip39_prefixes()


@functools.cache
def _bip39_prefixes() -> frozenset[str]:
    return frozenset(w[:4] for w in bip39_words() if w not in EVERYDAY_BIP39)


def _secret_start(masked: str, cue_end: int, link: re.Match[str] | None) -> int:
    """Right after "is" or ":" (a password may start with a symbol), else at the next word."""
    if link:
        return link.end()
    gap = _LEADING_GAP.match(masked, cue_end)
    return gap.end() if gap else cue_end


def _looks_secret(masked: str, start: int) -> bool:
    """The next word has a digit in it ("password hunter2"): a secret, even with no "is"."""
    following = re.match(rf"{_GAP}*(\w+)", masked[start:])
    return following is not None and _LOOKS_SECRET.fullmatch(following[1]) is not None


def _cued_to_end(masked: str) -> list[_Span]:
    """Seed phrases, passwords and private keys after the words that announce them."""
    spans: list[_Span | None] = []
    for cue in _SEED_CUE.finditer(masked):
        link = _CONNECTOR.match(masked, cue.end())
        if link or _seed_follows(masked, cue.end(), stems=True):
            spans.append(_to_end(masked, _secret_start(masked, cue.end(), link), SEED_PHRASE))
    for cue in _WORDS_CUE.finditer(masked):
        link = _CONNECTOR.match(masked, cue.end())
        said = link and re.search(r"\b(?:are|were)\b|:", link[0], re.I)
        if link and said and _seed_follows(masked, link.end()):
            spans.append(_to_end(masked, link.end(), SEED_PHRASE))
    for cue in _PASSWORD_CUE.finditer(masked):
        link = _LATE_CONNECTOR.match(masked, cue.end())
        if link or cue[0].endswith("'s") or _looks_secret(masked, cue.end()):
            spans.append(_to_end(masked, _secret_start(masked, cue.end(), link), PASSWORD))
    for cue in _KEY_CUE.finditer(masked):
        link = _CONNECTOR.match(masked, cue.end())
        if link or _looks_secret(masked, cue.end()):
            spans.append(_to_end(masked, _secret_start(masked, cue.end(), link), PRIVATE_KEY))
    return [s for s in spans if s is not None]


def _dictated(masked: str, tokens: list[re.Match[str]], i: int) -> bool:
    """Whether "4,111" is part of digits read out, not an amount: numerals right beside it.

    Whisper writes "four one one one, one one one one, ..." as "4,111, 1111,111, ...".
    """
    if not _GROUPED.fullmatch(tokens[i]["num"]):
        return False
    before, after = tokens[i - 1] if i else None, tokens[i + 1] if i + 1 < len(tokens) else None
    return bool(
        (before and before["num"] and _RUN_GAP.fullmatch(masked, before.end(), tokens[i].start()))
        or (after and after["num"] and _RUN_GAP.fullmatch(masked, tokens[i].end(), after.start()))
    )


def _number_runs(masked: str) -> list[tuple[int, int, int]]:
    """Runs of digits, in numerals or words, as (start, end, how many digits)."""
    # Each token: start, end, digits, and whether it may open / close a run.
    runs: list[list[tuple[int, int, int, bool, bool]]] = []
    previous_end = -1
    absorbs = False  # "twenty" takes the "one" after it: "twenty one" is two digits
    tokens = list(_NUMBER_TOKEN.finditer(masked))
    for i, token in enumerate(tokens):
        word = (token["word"] or "").lower()
        if (
            token["num"]
            and _NOT_DIGITS.fullmatch(token["num"])
            and not _dictated(masked, tokens, i)
        ):
            previous_end = -1  # an amount or a time breaks a run
            continue
        joined = previous_end >= 0 and _RUN_GAP.fullmatch(masked, previous_end, token.start())
        if not joined:
            runs.append([])
            absorbs = False
        if token["num"]:
            digits = sum(c.isdigit() for c in token["num"])
        elif word in _TENS_WORDS:
            digits = 2
        elif absorbs and word in _DIGIT_WORDS and word != "zero":
            digits = 0
        else:
            digits = _DIGIT_WORDS.get(word) or _WEAK_WORDS.get(word) or _REPEATERS[word]
        opens = word not in _WEAK_WORDS
        closes = opens and word not in _REPEATERS
        runs[-1].append((token.start(), token.end(), digits, opens, closes))
        absorbs = word in _TENS_WORDS
        previous_end = token.end()
    found: list[tuple[int, int, int]] = []
    for run in runs:
        while run and not run[0][3]:
            run.pop(0)
        while run and not run[-1][4]:
            run.pop()
        if run:
            found.append((run[0][0], run[-1][1], sum(t[2] for t in run)))
    return found


def _cued_numbers(masked: str, runs: list[tuple[int, int, int]]) -> list[_Span]:
    """A PIN or a security code: the first number said after its cue."""
    spans: list[_Span] = []
    for pattern, kind in ((_PIN_CUE, PIN), (_CODE_CUE, SECURITY_CODE)):
        for cue in pattern.finditer(masked):
            run = next((r for r in runs if r[0] >= cue.end()), None)
            if run is None:
                continue
            between = masked[cue.end() : run[0]]
            counted = _COUNTED.match(masked, run[1]) is not None  # "after three tries"
            if _MASK not in between and len(_WORD.findall(between)) <= _CUE_REACH and not counted:
                spans.append(_Span(run[0], run[1], kind, 0))
    return spans


def _by_length(digits: int) -> str:
    return CARD_NUMBER if digits >= _CARD_DIGITS else SECURITY_CODE


def _patterns(masked: str, runs: list[tuple[int, int, int]]) -> list[_Span]:
    """Secrets recognised by their shape alone: long numbers, keys, seed-word runs."""
    spans = [_Span(s, e, _by_length(n), 1) for s, e, n in runs if n >= 6]
    spans += [_Span(m.start(), m.end(), PRIVATE_KEY, 1) for m in _HEX_KEY.finditer(masked)]
    spans += [_Span(m.start(), m.end(), PRIVATE_KEY, 1) for m in _BASE58_KEY.finditer(masked)]
    spans += _seed_runs(masked)
    spans += _dense_seed_runs(masked)
    spans += [
        _Span(m.start(), m.end(), _by_length(len(m[0])), 3) for m in _LONG_DIGITS.finditer(masked)
    ]
    return spans


def _seed_runs(masked: str) -> list[_Span]:
    """Five or more BIP-39 words in a row, enough of them unusual, even with no cue."""
    words = bip39_words()
    spans: list[_Span] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        while run and any(start <= run[0].start() < end for start, end in cues):
            run.pop(0)  # "seed phrase: ...": the cue is BIP-39 words too, and stays readable
        said = [m[0].lower() for m in run if m[0].lower() not in _NUMBER_WORDS]
        rare = sum(w not in EVERYDAY_BIP39 for w in said)
        if any(len(said) >= n and rare >= r for n, r in _SEED_RULES):
            spans.append(_Span(run[0].start(), run[-1].end(), SEED_PHRASE, 2))
        run.clear()

    cues = [m.span() for cue in _PHRASE_CUES for m in cue.finditer(masked)]
    for word in _WORD.finditer(masked):
        if run and not _LEADING_GAP.fullmatch(masked, run[-1].end(), word.start()):
            close()
        if word[0].lower() in words:
            run.append(word)
        else:
            close()
    close()
    return spans


# A window of this many words holding at least DENSE_SEEDS seed words (exact, or
# misheard with the stem kept), DENSE_RARE of them unusual, is dictation.
_DENSE_WINDOW, _DENSE_SEEDS, _DENSE_RARE = 6, 5, 2


def _dense_seed_runs(masked: str) -> list[_Span]:
    """Seed words with a few mishearings between them, as Whisper writes a dictated phrase.

    "abandoned ability able about apps and absorb abstract of certain abuse" has
    no five BIP-39 words in a row, yet is plainly a seed phrase: ordinary speech
    is mostly function words ("the", "it", "to"), which are not BIP-39 words.
    """
    words = bip39_words()
    cues = [m.span() for cue in _PHRASE_CUES for m in cue.finditer(masked)]
    found = [w for w in _WORD.finditer(masked) if not any(a <= w.start() < b for a, b in cues)]

    def seed_like(word: str) -> bool:
        return word not in _NUMBER_WORDS and (word in words or _bip39_stem(word))

    said = [w[0].lower() for w in found]
    rare = [seed_like(w) and w not in EVERYDAY_BIP39 for w in said]
    spans: list[_Span] = []
    for i in range(len(found) - _DENSE_WINDOW + 1):
        if _MASK in masked[found[i].start() : found[i + _DENSE_WINDOW - 1].end()]:
            continue  # a secret already redacted lies between: it was never seed words
        hits = [j for j in range(i, i + _DENSE_WINDOW) if seed_like(said[j])]
        if len(hits) < _DENSE_SEEDS or sum(rare[j] for j in hits) < _DENSE_RARE:
            continue
        # Everyday words at the edges ("is that right") are the speech around it.
        edges = [j for j in hits if rare[j]]
        spans.append(_Span(found[edges[0]].start(), found[edges[-1]].end(), SEED_PHRASE, 2))
    return spans


def redact(text: str) -> Redaction:
    """``text`` with every secret replaced by ``[redacted <kind>]``."""
    masked = _mask(text)
    runs = _number_runs(masked)
    spans = sorted(
        _cued_to_end(masked) + _cued_numbers(masked, runs) + _patterns(masked, runs),
        key=lambda s: (s.start, s.rank, -s.end),
    )
    merged: list[_Span] = []
    for span in spans:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = _Span(last.start, max(last.end, span.end), last.kind, last.rank)
        else:
            merged.append(span)
    out: list[str] = []
    kinds: list[str] = []
    cursor = 0
    for span in merged:
        out += [text[cursor : span.start], f"[redacted {span.kind}]"]
        cursor = span.end
        if span.kind not in kinds:
            kinds.append(span.kind)
    out.append(text[cursor:])
    return Redaction("".join(out), tuple(kinds))
