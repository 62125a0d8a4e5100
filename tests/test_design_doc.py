"""Code cites the project's own design document, and every section it cites exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    path
    for package in (
        "hsm",
        "server",
        "device_firmware",
        "softhsm_config",
        "benchmarks",
        "docs",
    )
    for path in (ROOT / package).rglob("*")
    if path.suffix in {".py", ".md"}
]


def test_every_cited_section_of_docs_design_exists() -> None:
    sections = set(re.findall(r"^## (\d+)\. ", (ROOT / "docs" / "design.md").read_text(), re.M))
    cited = {
        (str(path.relative_to(ROOT)), number)
        for path in SOURCES
        for number in re.findall(r"docs/design\.md §(\d+)", path.read_text())
    }
    assert cited, "no code cites docs/design.md"
    assert {c for c in cited if c[1] not in sections} == set()


def test_no_code_cites_a_design_document_the_project_does_not_have() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path in SOURCES
        if re.search(r"(?<!docs/)DESIGN\.md", path.read_text())
    ]
    assert stale == []
