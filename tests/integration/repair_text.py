"""Repair texts as the owner reads them: the translation with its placeholders filled.

A placeholder the code does not provide fails here, as it would show raw in the
frontend; a snapshot of the result pins what the owner is told.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

STRINGS: dict[str, Any] = json.loads(
    (
        Path(__file__).parents[2]
        / "custom_components"
        / "alphaess_local"
        / "translations"
        / "en.json"
    ).read_text()
)


def render(template: str, placeholders: dict[str, str] | None) -> str:
    """``template`` with every ``{name}`` replaced; a missing one raises KeyError."""
    given = placeholders or {}
    return re.sub(r"\{(\w+)\}", lambda m: given[m.group(1)], template)


def issue_text(key: str, placeholders: dict[str, str] | None) -> dict[str, str]:
    """A plain repair's title and description, rendered."""
    strings = STRINGS["issues"][key]
    return {part: render(strings[part], placeholders) for part in strings}
