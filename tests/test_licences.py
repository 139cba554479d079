"""LICENSE, NOTICE and the README agree with what is installed.

A copyleft dependency that NOTICE does not name would be a surprise for whoever
distributes a build, so the dependency tree is read from the installed
packages' metadata (voicebot with its ``piper`` extra, as ``./run`` installs it).
"""

from __future__ import annotations

import importlib.metadata as md
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from voicebot.config import REPO_ROOT

COPYLEFT = re.compile(r"\bA?L?GPL\b|General Public License|\bMPL\b|Mozilla Public", re.I)


def _closure(root: str, extras: set[str]) -> dict[str, set[str]]:
    """Every installed distribution ``root`` needs with ``extras``: name -> extras asked for."""
    seen: dict[str, set[str]] = {}
    todo = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # an optional dependency for another platform
        key = canonicalize_name(dist.metadata["Name"])
        if key in seen and wanted <= seen[key]:
            continue
        seen.setdefault(key, set()).update(wanted)
        for line in dist.requires or []:
            req = Requirement(line)
            markers = [{"extra": e} for e in wanted or {""}]
            if req.marker is None or any(req.marker.evaluate(m) for m in markers):
                todo.append((req.name, set(req.extras)))
    return seen


def _licence(name: str) -> str:
    meta = md.distribution(name).metadata
    said = [*(meta.get_all("License-Expression") or [])]
    said += [text.split("\n")[0] for text in meta.get_all("License") or []]
    said += [c for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    return " ".join(said).strip()


def test_license_is_apache_2_as_pyproject_declares() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert {"LICENSE", "NOTICE"} <= set(project["license-files"])
    text = (REPO_ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_notice_names_every_copyleft_dependency_and_those_that_declare_none() -> None:
    notice = (REPO_ROOT / "NOTICE").read_text().lower()
    needed = _closure("voicebot", {"piper"})
    assert {"piper-tts", "faster-whisper", "pipecat-ai"} <= set(needed)  # the walk works
    unnamed = {
        name: _licence(name) or "no licence declared"
        for name in needed
        if name != "voicebot"
        and (COPYLEFT.search(_licence(name)) or not _licence(name))
        and name not in notice
    }
    assert not unnamed, f"NOTICE does not name {unnamed}"


def test_notice_names_the_gpl_inside_the_wheels() -> None:
    """Bundled libraries that no metadata declares, found by reading the wheels."""
    notice = (REPO_ROOT / "NOTICE").read_text()
    for part in ("eSpeak NG", "libx264", "libx265", "GPL-3.0-or-later", "GPL-2.0-or-later"):
        assert part in notice, part


def test_readme_says_plainly_that_speech_needs_the_piper_extra() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert "Speech needs the `piper` extra" in readme
    assert "NOTICE" in readme and "LICENSE" in readme
