"""``extract``: gene, disease and chemical mentions by a dictionary built from data.

The dictionary is not written in code.  It is assembled per run from

* lexicon files (TSV: ``term<TAB>type<TAB>id<TAB>synonym|synonym``), such as
  exports of NCBI Gene, MeSH diseases and ChEBI, under ``config/dictionaries``;
* the corpus itself, mined by rules: gene-symbol-shaped tokens (``BRCA1``,
  ``TP53``) next to words like *gene*, *protein*, *mutation*; disease words
  (*-itis*, *-oma*, *-osis*) and eponyms (*Huntington disease*); drug-name stems
  (*-mab*, *-nib*, *-platin*, *-mycin*).  A mined term must be seen at least
  ``min_mentions`` times.

The dictionary used is written to ``extract/dictionary.json`` so every
mention can be traced to where its term came from.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_factory.exceptions import StageError, StageSkipped
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.documents import jobs
from pipeline_factory.stages.documents.params import ExtractParams
from pipeline_factory.stages.documents.records import CHUNKS_FILE, project_path, read_jsonl, write_jsonl
from pipeline_factory.workspace import write_json_atomic

ENTITY_TYPES = ("gene", "disease", "chemical")
MENTIONS_FILE = "mentions.jsonl"

_GENE_SHAPE = re.compile(r"\b([A-Z][A-Z0-9]{1,6}[0-9][A-Z0-9]?|[A-Z]{3,6})\b")
_GENE_CONTEXT = re.compile(
    r"\b(genes?|proteins?|mutations?|mutant|variants?|expression|knock-?out|alleles?|"
    r"kinase|receptor|transcripts?|loci|locus)\b",
    re.IGNORECASE,
)
_DISEASE_WORD = re.compile(r"\b([a-z]{4,}(?:itis|oma|emia|aemia|opathy|osis))\b", re.IGNORECASE)
_DISEASE_PHRASE = re.compile(  # eponyms: "Huntington disease", "Alzheimer's disease", "Crohn disease"
    r"(?<![\w-])([A-Z][a-z]{3,}(?:'s)? (?:disease|syndrome|disorder))\b"
)
_CHEMICAL_WORD = re.compile(r"\b([a-z]{3,}(?:mab|nib|platin|mycin|cillin|statin|parin|azole|vir))\b", re.IGNORECASE)
_STOP_GENES = frozenset(
    {
        "DNA",
        "RNA",
        "PCR",
        "USA",
        "THE",
        "AND",
        "WITH",
        "FOR",
        "CRISPR",
        "MRNA",
        "NGS",
        "WHO",
        "FDA",
        "HIV",
        "BMI",
        "ATP",
        "GTP",
        "NADH",
        "RESULTS",
        "METHODS",
    }
)
_STOP_DISEASE_HEADS = frozenset({"this", "that", "these", "those", "with", "from", "their", "which", "other"})


@dataclass(frozen=True)
class Term:
    text: str
    type: str
    entity_id: str
    origin: str


@dataclass
class Dictionary:
    terms: dict[str, Term] = field(default_factory=dict)

    def add(self, term: Term) -> None:
        key = term.text if term.type == "gene" else term.text.lower()
        self.terms.setdefault(key, term)  # lexicon entries (added first) win over mined ones

    def __len__(self) -> int:
        return len(self.terms)

    def by_origin(self) -> Counter:
        return Counter(t.origin for t in self.terms.values())

    def to_json(self) -> list[dict[str, str]]:
        return [
            {"term": t.text, "type": t.type, "id": t.entity_id, "origin": t.origin}
            for t in sorted(self.terms.values(), key=lambda t: (t.type, t.text.lower()))
        ]

    def matcher(self) -> Matcher:
        return Matcher(self)


class Matcher:
    """All dictionary terms in two compiled alternations: genes case-sensitive, the rest not."""

    def __init__(self, dictionary: Dictionary):
        self.dictionary = dictionary
        genes = [t.text for t in dictionary.terms.values() if t.type == "gene"]
        others = [t.text for t in dictionary.terms.values() if t.type != "gene"]
        self._genes = _alternation(genes, 0)
        self._others = _alternation(others, re.IGNORECASE)

    def find(self, text: str) -> list[tuple[Term, int, int]]:
        found = []
        if self._genes:
            for m in self._genes.finditer(text):
                found.append((self.dictionary.terms[m.group(0)], m.start(), m.end()))
        if self._others:
            for m in self._others.finditer(text):
                found.append((self.dictionary.terms[m.group(0).lower()], m.start(), m.end()))
        return sorted(found, key=lambda item: item[1])


def _alternation(terms: list[str], flags: int) -> re.Pattern | None:
    if not terms:
        return None
    ordered = sorted(set(terms), key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(t) for t in ordered) + r")(?![\w-])", flags)


def entity_id(kind: str, text: str) -> str:
    return f"{kind}:{re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')}"


def load_lexicons(paths: Iterable[Path]) -> list[Term]:
    """Read TSV lexicons: ``term, type, id, synonyms`` (a header line starting with ``term`` is skipped)."""
    terms: list[Term] = []
    for path in paths:
        files = sorted(path.glob("*.tsv")) if path.is_dir() else [path]
        for file in files:
            if not file.exists():
                raise StageError(f"lexicon {file} does not exist")
            with file.open(newline="") as handle:
                for row in csv.reader(handle, delimiter="\t"):
                    if not row or row[0].startswith("#") or row[0] == "term":
                        continue
                    term, kind = row[0].strip(), row[1].strip().lower()
                    if kind not in ENTITY_TYPES:
                        raise StageError(f"{file}: {term!r} has type {kind!r}, not one of {ENTITY_TYPES}")
                    ident = row[2].strip() if len(row) > 2 and row[2].strip() else entity_id(kind, term)
                    origin = f"lexicon:{file.name}"
                    terms.append(Term(term, kind, ident, origin))
                    synonyms = row[3].split("|") if len(row) > 3 and row[3] else []
                    terms.extend(Term(s.strip(), kind, ident, origin) for s in synonyms if s.strip())
    return terms


def mine_terms(texts: Iterable[str], min_mentions: int) -> list[Term]:
    """Candidate terms found by the rules, kept once seen ``min_mentions`` times in the corpus."""
    genes: Counter = Counter()
    diseases: Counter = Counter()
    chemicals: Counter = Counter()
    for text in texts:
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            if _GENE_CONTEXT.search(sentence):
                genes.update(g for g in _GENE_SHAPE.findall(sentence) if g not in _STOP_GENES)
            diseases.update(w.lower() for w in _DISEASE_WORD.findall(sentence))
            for phrase in _DISEASE_PHRASE.findall(sentence):
                if phrase.split()[0].lower() not in _STOP_DISEASE_HEADS:
                    diseases[phrase.lower()] += 1
            chemicals.update(w.lower() for w in _CHEMICAL_WORD.findall(sentence))
    mined = [Term(g, "gene", entity_id("gene", g), "mined") for g, n in genes.items() if n >= min_mentions]
    mined += [Term(d, "disease", entity_id("disease", d), "mined") for d, n in diseases.items() if n >= min_mentions]
    mined += [Term(c, "chemical", entity_id("chemical", c), "mined") for c, n in chemicals.items() if n >= min_mentions]
    return mined


def build_dictionary(params: ExtractParams, texts: list[str]) -> Dictionary:
    dictionary = Dictionary()
    for term in load_lexicons(project_path(p) for p in params.dictionaries):
        dictionary.add(term)
    if params.mine_corpus:
        for term in mine_terms(texts, params.min_mentions):
            dictionary.add(term)
    return dictionary


def extract_mentions(chunk: dict[str, Any], matcher: Matcher) -> list[dict[str, Any]]:
    return [
        {
            "chunk_id": chunk["chunk_id"],
            "doc_id": chunk["doc_id"],
            "job_id": chunk["job_id"],
            "entity_id": term.entity_id,
            "type": term.type,
            "name": term.text,
            "text": chunk["text"][start:end],
            "start": start,
            "end": end,
        }
        for term, start, end in matcher.find(chunk["text"])
    ]


class Extract:
    def run(self, ctx: StageContext, params: ExtractParams) -> StageResult:
        live = jobs.live_jobs(ctx)
        chunks = [c for c in read_jsonl(ctx.input_dir("chunks") / CHUNKS_FILE) if c["job_id"] in live]
        if not chunks:
            raise StageSkipped("no live chunk to extract from")
        dictionary = build_dictionary(params, [c["text"] for c in chunks])
        write_json_atomic(ctx.stage_dir / "dictionary.json", dictionary.to_json())
        matcher = dictionary.matcher()
        mentions: list[dict[str, Any]] = []
        failed: set[str] = set()
        for chunk in chunks:
            if chunk["job_id"] in failed:
                continue
            try:
                mentions.extend(extract_mentions(chunk, matcher))
            except Exception as exc:
                failed.add(chunk["job_id"])
                jobs.fail_job(ctx, chunk["job_id"], f"extraction failed: {type(exc).__name__}: {exc}")
        mentions = [m for m in mentions if m["job_id"] not in failed]
        write_jsonl(ctx.stage_dir / MENTIONS_FILE, mentions)
        jobs.advance(ctx, sorted({c["job_id"] for c in chunks} - failed))
        by_type = Counter(m["type"] for m in mentions)
        return {
            "mentions": len(mentions),
            "entities": len({m["entity_id"] for m in mentions}),
            "by_type": dict(by_type),
            "dictionary_terms": len(dictionary),
            "dictionary_origins": dict(dictionary.by_origin()),
            "failed": len(failed),
        }
