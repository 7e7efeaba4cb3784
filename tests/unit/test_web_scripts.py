"""The page scripts keep out of each other's way.

A script that marks an element with a state attribute (``video.dataset.played = ...``) must
not be marking something another script finds by that attribute: progress.js once marked
the video ``data-played`` and player.js, which sized "the first ``[data-played]``" as the
seek bar's played part, sized the picture instead.  State attributes written at run time
and the attributes scripts select elements by are kept apart here, for every script.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
SCRIPTS = sorted(p for p in STATIC.glob("*.js"))

_COMMENT = re.compile(r"(?m)(^|\s)//.*$")
_DATASET_WRITE = re.compile(r"\.dataset\.(\w+)\s*=(?!=)")
_ATTRIBUTE_WRITE = re.compile(r"(?:set|toggle)Attribute\(\s*[\"'`]data-([\w-]+)")
_SELECTED = re.compile(r"\[data-([\w-]+)")


def _kebab(camel: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), camel)


def written(source: str) -> set[str]:
    code = _COMMENT.sub(r"\1", source)
    found = {_kebab(name) for name in _DATASET_WRITE.findall(code)}
    return found | set(_ATTRIBUTE_WRITE.findall(code))


def selected(source: str) -> set[str]:
    return set(_SELECTED.findall(_COMMENT.sub(r"\1", source)))


def test_the_scanner_sees_the_bug_it_guards_against() -> None:
    assert written('video.dataset.played = "yes";') == {"played"}
    assert written('box.toggleAttribute("data-paused", yes)') == {"paused"}
    assert selected('box.querySelector("[data-played]").style.width = x;') == {"played"}
    assert selected("// the first [data-played]") == set()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_script_selects_by_a_state_attribute_a_script_writes(script: Path) -> None:
    assert SCRIPTS, "no page scripts found"
    chosen_by = selected(script.read_text(encoding="utf-8"))
    clashes = {
        (other.name, name)
        for other in SCRIPTS
        for name in written(other.read_text(encoding="utf-8")) & chosen_by
    }
    assert clashes == set(), f"{script.name} selects elements by attributes scripts set"
