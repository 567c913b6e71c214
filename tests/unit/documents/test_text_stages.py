"""ingest -> parse -> chunk -> extract on the shipped corpus, with the real ledger."""

from __future__ import annotations

import json

import pytest

from pipeline_factory.exceptions import StageSkipped
from pipeline_factory.stages.documents.chunk import Chunk, chunk_document, split_sentences, windows
from pipeline_factory.stages.documents.extract import (
    Extract,
    build_dictionary,
    load_lexicons,
    mine_terms,
)
from pipeline_factory.stages.documents.ingest import Ingest
from pipeline_factory.stages.documents.params import ChunkParams, ExtractParams, IngestParams, ParseParams
from pipeline_factory.stages.documents.parse import Parse, sections_from_text
from pipeline_factory.stages.documents.records import read_jsonl

CORPUS = "tests/fixtures/documents"


def test_sentences_do_not_end_at_abbreviations():
    text = "BRCA1 was found by Miki et al. in 1994. It repairs DNA, e.g. breaks. Fig. 2 shows it! Done?"
    assert split_sentences(text) == [
        "BRCA1 was found by Miki et al. in 1994.",
        "It repairs DNA, e.g. breaks.",
        "Fig. 2 shows it!",
        "Done?",
    ]


def test_windows_keep_whole_sentences_and_overlap():
    sentences = [f"Sentence number {i} is here." for i in range(6)]  # 27 characters each
    chunks = list(windows(sentences, max_chars=60, overlap=1))
    assert chunks[0] == "Sentence number 0 is here. Sentence number 1 is here."
    assert chunks[1].startswith("Sentence number 1 is here.")  # the overlap
    assert all(len(c) <= 60 for c in chunks)
    assert chunks[-1].endswith("Sentence number 5 is here.")
    assert list(windows(sentences, max_chars=60, overlap=0))[1].startswith("Sentence number 2")


def test_a_sentence_longer_than_the_window_is_split_on_words():
    long = " ".join(["word"] * 50) + "."
    pieces = list(windows([long], max_chars=50, overlap=0))
    assert len(pieces) > 1 and all(len(p) <= 50 for p in pieces)


def test_chunk_ids_are_deterministic_and_per_document():
    ir = {"doc_id": "d1", "job_id": "j1", "title": "T", "sections": [{"heading": "A", "text": "One. Two.", "page": 2}]}
    first = chunk_document(ir, 800, 1)
    assert [c["chunk_id"] for c in first] == ["d1:chunk:0", "d1:chunk:1"]
    assert first[1]["section"] == "A" and first[1]["page"] == 2
    assert chunk_document(ir, 800, 1) == first


def test_structured_abstract_labels_become_sections():
    sections = sections_from_text("BACKGROUND: Why. METHODS: How it was done. RESULTS: What.")
    assert [(s["heading"], s["text"]) for s in sections] == [
        ("Background", "Why."),
        ("Methods", "How it was done."),
        ("Results", "What."),
    ]


def test_ingest_parse_chunk_extract_on_the_shipped_corpus(stage_ctx, ledger):
    ctx = stage_ctx("ingest")
    result = Ingest().run(ctx, IngestParams(source="folder", path=CORPUS))
    assert result["documents"] == 6
    run = "docs_auto/manual__1"
    docs = {j["doc_id"] for j in ledger.jobs_for_run(run)}
    assert {"t-1", "t-2", "t-3", "t-4", "huntington", "sources"} == docs

    parsed = Parse().run(stage_ctx("parse"), ParseParams())
    assert parsed == {"documents": 5, "failed": 1}
    empty = ledger.get("default:docs_auto:t-3")
    assert empty["state"] == "failed" and "empty document" in empty["error"]
    assert empty["current_stage"] == "parse"
    md = next(d for d in read_jsonl(ctx.run_dir / "parse" / "documents.jsonl") if d["doc_id"] == "sources")
    assert [s["heading"] for s in md["sections"]] == ["Background", "Gene editing"]

    chunked = Chunk().run(stage_ctx("chunk"), ChunkParams(max_chars=200, overlap_sentences=1))
    chunks = list(read_jsonl(ctx.run_dir / "chunk" / "chunks.jsonl"))
    assert chunked["chunks"] == len(chunks) and chunked["documents"] == 5
    assert not any(c["doc_id"] == "t-3" for c in chunks)  # the failed job gets no downstream work
    assert len({c["chunk_id"] for c in chunks}) == len(chunks)

    extracted = Extract().run(stage_ctx("extract"), ExtractParams(dictionaries=["config/dictionaries"]))
    mentions = list(read_jsonl(ctx.run_dir / "extract" / "mentions.jsonl"))
    found = {(m["doc_id"], m["entity_id"]) for m in mentions}
    assert ("t-1", "ncbigene:672") in found  # BRCA1
    assert ("t-1", "chebi:83766") in found  # olaparib
    assert ("t-4", "mesh:D003550") in found  # cystic fibrosis
    assert ("t-2", "mesh:D002289") in found  # non-small cell lung cancer, not "cell lung cancer"
    assert extracted["by_type"].keys() == {"gene", "disease", "chemical"}
    dictionary = json.loads((ctx.run_dir / "extract" / "dictionary.json").read_text())
    assert {d["origin"] for d in dictionary} >= {"lexicon:genes.tsv", "lexicon:diseases.tsv", "mined"}

    events = ledger.events(dag_run_id=run)  # stage lifecycle events come from the runner (tests/unit/factory)
    assert any(e["type"].endswith("job.failed") and e["subject"] == "default:docs_auto:t-3" for e in events)


def test_the_dictionary_comes_from_lexicon_files_and_the_corpus(tmp_path):
    lexicon = tmp_path / "lex.tsv"
    lexicon.write_text("term\ttype\tid\tsynonyms\nFOXP2\tgene\tncbigene:93986\tforkhead box P2\n")
    terms = load_lexicons([lexicon])
    assert [(t.text, t.entity_id) for t in terms] == [
        ("FOXP2", "ncbigene:93986"),
        ("forkhead box P2", "ncbigene:93986"),
    ]
    mined = mine_terms(
        [
            "Mutations in the ZNF804A gene were common.",
            "ZNF804A protein levels fell.",
            "Crohn disease flared.",
            "Crohn disease again. Treated with infliximab and more infliximab.",
        ],
        min_mentions=2,
    )
    kinds = {(t.text, t.type) for t in mined}
    assert (
        ("ZNF804A", "gene") in kinds and ("crohn disease", "disease") in kinds and ("infliximab", "chemical") in kinds
    )
    dictionary = build_dictionary(
        ExtractParams(dictionaries=[str(lexicon)], min_mentions=2), ["ZNF804A gene. ZNF804A gene."]
    )
    assert {t.text for t in dictionary.terms.values()} == {"FOXP2", "forkhead box P2", "ZNF804A"}
    matches = dictionary.matcher().find("FOXP2 and ZNF804A but not znf804a")
    assert [m[0].text for m in matches] == ["FOXP2", "ZNF804A"]


def test_a_lexicon_row_of_an_unknown_type_is_an_error(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("aspirin\tdrug\tx\n")
    with pytest.raises(Exception, match="not one of"):
        load_lexicons([bad])


def test_chunk_skips_when_every_job_failed(stage_ctx, ledger):
    Ingest().run(stage_ctx("ingest"), IngestParams(source="folder", path=CORPUS, pattern="cftr.json"))
    Parse().run(stage_ctx("parse"), ParseParams())
    ledger.fail("default:docs_auto:t-4", "converter gave up")
    with pytest.raises(StageSkipped):
        Chunk().run(stage_ctx("chunk"), ChunkParams())
