"""The documents the code cites live in the repository and say what the code says.

``docs/config_reference.md`` is generated from the schema; it must be the current
schema's output, so a field added without regenerating the reference fails here
(regenerate with ``neurosim reference --out docs/config_reference.md``). Every
citation of a ``docs/`` file, in the packages, presets, studies, benchmarks, README
and the docs themselves, must name a file that exists, and a cited section
(``docs/design.md §3``, ``docs/hardware_sources.md §2a``) must be a heading there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neurosim.experiment.config import config_reference

ROOT = Path(__file__).resolve().parents[1]
CITED_IN = ["neurosim", "equivariance", "hw_configs", "studies", "benchmarks", "docs", "tests"]
SECTION = r"[0-9A-Z][0-9a-z]*(?:\.[0-9]+)*"
CITATION = re.compile(rf"docs/([A-Za-z0-9_/]+\.md)(?:\s?§\s?({SECTION}))?")


def _citations() -> list[tuple[str, str, str | None]]:
    files = [ROOT / "README.md"]
    for top in CITED_IN:
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in {".py", ".md", ".toml"}]
    out = []
    for path in files:
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            doc, section = match.group(1), match.group(2)
            if section != "N":  # design.md's own "docs/design.md §N" convention
                out.append((str(path.relative_to(ROOT)), doc, section))
    return out


def _headings(doc: str) -> set[str]:
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(rf"^#+\s+({SECTION})\.?\s", text, re.MULTILINE)}


def test_the_config_reference_is_the_schemas() -> None:
    on_disk = (ROOT / "docs" / "config_reference.md").read_text(encoding="utf-8")
    assert on_disk == config_reference(), (
        "docs/config_reference.md is stale: run `neurosim reference --out docs/config_reference.md`"
    )


def test_there_are_citations_to_check() -> None:
    cited = {(doc, section) for _, doc, section in _citations()}
    assert ("design.md", "3") in cited and ("hardware_sources.md", "0") in cited


@pytest.mark.parametrize(
    ("source", "doc", "section"),
    sorted(set(_citations()), key=str),
    ids=lambda v: str(v),
)
def test_every_citation_resolves(source: str, doc: str, section: str | None) -> None:
    assert (ROOT / "docs" / doc).is_file(), f"{source} cites docs/{doc}, which does not exist"
    if section is not None:
        assert section in _headings(doc), f"{source} cites docs/{doc} §{section}: no such heading"


def test_nothing_cites_the_shared_folder() -> None:
    for top in CITED_IN + ["README.md"]:
        base = ROOT / top
        paths = [base] if base.is_file() else base.rglob("*")
        for path in paths:
            if path.suffix in {".py", ".md", ".toml"} and path != Path(__file__):
                assert "../shared" not in path.read_text(encoding="utf-8"), path
