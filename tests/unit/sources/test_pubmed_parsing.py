"""PubMed XML as NCBI really sends it (recorded answers), and the stand-in's answers, parse alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_factory.devservers import eutils_corpus as corpus
from pipeline_factory.exceptions import TransientServiceError
from pipeline_factory.sources.genes import gene_record, organism_matches
from pipeline_factory.sources.pubmed import parse_pubmed_xml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ncbi"


def papers(name: str) -> dict[str, dict]:
    return {p["pmid"]: p for p in parse_pubmed_xml((FIXTURES / name).read_bytes())}


def test_real_record_with_structured_fields():
    paper = papers("pubmed2.xml")["11748933"]
    assert paper["title"].startswith("Is cryopreservation a homogeneous process?")
    assert paper["journal"] == {"id": "0006252", "title": "Cryobiology"}
    assert (paper["year"], paper["date"]) == (2001, "2001-06")
    assert paper["doi"] == "10.1006/cryo.2001.2328"
    assert paper["authors"][:2] == ["A R Taddei", "F Barbato"]
    assert {"ui": "D000818", "name": "Animals", "major": False} in paper["mesh"]
    assert {"ui": "D015925", "name": "Cryopreservation", "major": True}  # via its qualifier in paper["mesh"]
    assert len(paper["abstract"]) > 1000


def test_real_record_with_a_season_and_no_abstract_or_doi():
    paper = papers("pubmed1.xml")["12091962"]
    # <Season>Spring</Season> is not a month: year precision, the season kept in the original string
    assert (paper["year"], paper["date"], paper["date_precision"]) == (1990, "1990", "year")
    assert paper["date_original"] == "1990 Spring"
    assert paper["abstract"] == "" and paper["doi"] is None
    assert paper["authors"] == ["J Michael Olivero"]
    assert len(paper["mesh"]) == 19


def test_full_date_and_every_record_kept():
    both = papers("pubmed1.xml")
    assert set(both) == {"12091962", "9997"}
    assert both["9997"]["date"] == "1976-09-28"
    assert (both["9997"]["date_precision"], both["9997"]["date_original"]) == ("day", "1976 Sep 28")


def test_truncated_xml_is_a_transient_error():
    body = (FIXTURES / "pubmed2.xml").read_bytes()
    with pytest.raises(TransientServiceError, match="unreadable XML"):
        parse_pubmed_xml(body[: len(body) // 2])


def test_stand_in_records_parse_into_what_was_generated():
    generated = corpus.paper("10000042", "CRISPR gene editing")
    [paper] = parse_pubmed_xml(corpus.pubmed_set_xml([generated]).encode())
    assert paper["pmid"] == "10000042" and paper["title"] == generated.title
    assert paper["date"] == generated.published.isoformat()
    assert paper["authors"] == [f"{fore} {last}" for last, fore in generated.authors]
    assert [m["ui"] for m in paper["mesh"]] == [ui for ui, _ in generated.mesh]
    assert "CRISPR gene editing" in paper["abstract"] and paper["abstract"].startswith("BACKGROUND: ")
    assert corpus.paper("10000042").published == generated.published  # deterministic


def test_gene_summary_fields_and_organism_filter():
    gene = gene_record("22059", corpus.gene_summary("22059"))
    assert gene["symbol"] == "Trp53" and gene["organism"] == "Mus musculus" and gene["taxid"] == 10090
    assert not organism_matches(gene, ["Homo sapiens"])
    assert organism_matches(gene, ["10090"]) and organism_matches(gene, [])
