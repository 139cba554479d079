"""What the bot says, per locale, from ``prompts/<locale>.yaml``."""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from voicebot.errors import DialogError


@dataclass(frozen=True)
class Prompts:
    """The lines of one locale; ``render`` fills their placeholders."""

    locale: str
    lines: dict[str, str]

    def keys(self) -> set[str]:
        return set(self.lines)

    def render(self, key: str, values: dict[str, Any]) -> str:
        try:
            template = self.lines[key]
        except KeyError as e:
            raise DialogError(f"{self.locale}: no prompt {key!r}") from e
        try:
            return string.Formatter().vformat(template, (), values)
        except KeyError as e:
            raise DialogError(f"{self.locale}: prompt {key!r} needs {e}") from e


def load_prompts(prompts_dir: Path, locale: str) -> Prompts:
    """Load one locale's prompts."""
    path = prompts_dir / f"{locale}.yaml"
    if not path.exists():
        raise DialogError(f"no prompts for locale {locale!r} ({path})")
    with path.open() as f:
        raw = yaml.safe_load(f)
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise DialogError(f"{path}: expected a mapping of prompt key to text")
    return Prompts(locale=locale, lines={k: " ".join(v.split()) for k, v in raw.items()})
