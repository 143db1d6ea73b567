"""The documents cite only files that are in the repository.

A path in a document (`api/app.py`, `bench/fault_*.py`, a markdown link's target) that points
nowhere sends a newcomer looking for something that is not there: a file since moved or
renamed, or one that was never in the repository (a design file kept elsewhere).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")]
)

# A path with at least one folder and a file extension, not part of a longer path, an
# absolute path or an address (``/proc/PID/stat``, ``https://host/x.md`` are not ours).
REPOSITORY_PATH = re.compile(r"(?<![\w/.:~-])((?:[\w.-]+/)+[\w.*-]*\.[A-Za-z][A-Za-z0-9]*)\b")
# A markdown file named bare (``SECURITY.md``), which readers look for beside the document.
BARE_DOCUMENT = re.compile(r"(?<![\w/.-])([\w-]+\.md)\b")
# A markdown link's target, without its #anchor; addresses and bare anchors aside.
LINK_TARGET = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")
NOT_IN_REPOSITORY = ("DESIGN.md",)


def _exists(relative: str, base: Path) -> bool:
    if "*" in relative:
        return any(base.glob(relative))
    return (base / relative).exists()


def _broken(document: Path) -> list[str]:
    text = document.read_text(encoding="utf-8")
    here = document.parent
    broken = []
    for name in NOT_IN_REPOSITORY:
        if name in text:
            broken.append(f"{name} (not in the repository)")
    for path in set(REPOSITORY_PATH.findall(text)):
        if not _exists(path, ROOT):
            broken.append(path)
    for name in set(BARE_DOCUMENT.findall(text)) - set(NOT_IN_REPOSITORY):
        if not (_exists(name, ROOT) or _exists(name, here)):
            broken.append(name)
    for target in set(LINK_TARGET.findall(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        resolved = (here / target).resolve()
        if not resolved.is_relative_to(ROOT):
            broken.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            broken.append(target)
    return sorted(broken)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_path_a_document_cites_is_in_the_repository(document: Path) -> None:
    assert _broken(document) == []
