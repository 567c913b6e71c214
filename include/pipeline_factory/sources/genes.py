"""NCBI Gene: the genes linked to papers, summarised and filtered by organism."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline_factory.sources.eutils import EutilsClient, ordered_map

log = logging.getLogger(__name__)


def gene_record(uid: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The fields the graph needs from one ``esummary db=gene`` document."""
    organism = doc.get("organism") or {}
    aliases = [a.strip() for a in (doc.get("otheraliases") or "").split(",") if a.strip()]
    symbol = doc.get("name") or doc.get("nomenclaturesymbol") or ""
    return {
        "gene_id": str(doc.get("uid") or uid),
        "symbol": symbol,
        "description": doc.get("description") or doc.get("nomenclaturename") or "",
        "organism": organism.get("scientificname") or "",
        "taxid": int(organism["taxid"]) if organism.get("taxid") else None,
        "chromosome": doc.get("chromosome") or "",
        "aliases": aliases,
        "synonyms": [a for a in aliases if a.lower() != symbol.lower()],
    }


def gene_names(gene: dict[str, Any]) -> list[str]:
    """Every name a gene goes by, lower-cased: the official symbol first, then its synonyms."""
    names = [gene.get("symbol") or "", *(gene.get("synonyms") or gene.get("aliases") or [])]
    return list(dict.fromkeys(n.strip().lower() for n in names if n and n.strip()))


def organism_matches(gene: dict[str, Any], organisms: Sequence[str]) -> bool:
    """True when no filter is set or the gene's scientific name or taxid is listed."""
    if not organisms:
        return True
    wanted = {o.strip().lower() for o in organisms}
    return gene["organism"].lower() in wanted or str(gene.get("taxid")) in wanted


def genes_linked_to_papers(
    client: EutilsClient, pmids: Sequence[str], batch_size: int, concurrency: int = 1
) -> dict[str, list[str]]:
    """pmid -> gene ids through ``elink dbfrom=pubmed db=gene``."""
    links: dict[str, list[str]] = {}
    batches = [list(pmids[start : start + batch_size]) for start in range(0, len(pmids), batch_size)]
    for found in ordered_map(lambda batch: client.elink("pubmed", "gene", batch), batches, concurrency):
        for pmid, gene_ids in found.items():
            links.setdefault(pmid, [])
            links[pmid] += [g for g in gene_ids if g not in links[pmid]]
    return links


def search_gene_ids(client: EutilsClient, symbols: Iterable[str], organisms: Sequence[str]) -> list[str]:
    """Gene ids for official symbols, through ``esearch db=gene`` (``[sym]`` and ``[orgn]`` fields)."""
    symbols = sorted(set(symbols))
    if not symbols:
        return []
    term = " OR ".join(f"{s}[sym]" for s in symbols)
    if organisms:
        organism_terms = " OR ".join(f'"{o}"[orgn]' for o in organisms)
        term = f"({term}) AND ({organism_terms})"
    result = client.esearch("gene", term, retmax=max(20, len(symbols) * 5))
    return result.ids


def summarise_genes(
    client: EutilsClient, gene_ids: Sequence[str], *, organisms: Sequence[str], batch_size: int, concurrency: int = 1
) -> list[dict[str, Any]]:
    genes = []
    batches = [list(gene_ids[start : start + batch_size]) for start in range(0, len(gene_ids), batch_size)]
    for docs in ordered_map(lambda batch: client.esummary_json("gene", batch), batches, concurrency):
        for uid, doc in docs.items():
            if "error" in doc:
                continue
            gene = gene_record(uid, doc)
            if organism_matches(gene, organisms):
                genes.append(gene)
    return genes


def resolve_symbol(
    client: EutilsClient, symbol: str, organism: str
) -> dict[str, Any] | None:
    """The NCBI Gene record a symbol means in one organism, or None.

    Symbols are ambiguous across organisms (``TRP53`` is an alias of human TP53
    and the official symbol of mouse Trp53) and within one (an alias of one gene
    can be another's symbol), so the search is limited to the organism, and an
    official-symbol match wins over an alias match.  Two genes sharing only the
    alias leave the symbol unresolved rather than guessed.
    """
    symbol = symbol.strip()
    if not symbol:
        return None
    term = f'"{symbol}"[gene] AND "{organism}"[orgn]'
    ids = client.esearch("gene", term, retmax=20).ids
    if not ids:
        return None
    docs = client.esummary_json("gene", ids)
    candidates = [gene_record(uid, doc) for uid, doc in docs.items() if "error" not in doc]
    candidates = [g for g in candidates if organism_matches(g, [organism])]
    wanted = symbol.lower()
    official = [g for g in candidates if g["symbol"].lower() == wanted]
    if len(official) == 1:
        return official[0]
    by_alias = [g for g in candidates if wanted in gene_names(g)]
    if len(by_alias) == 1:
        return by_alias[0]
    if by_alias:
        log.warning("symbol %r names %d %s genes; left unresolved", symbol, len(by_alias), organism)
    return None


def resolve_symbols(
    client: EutilsClient, symbols: Iterable[str], organisms: Sequence[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(symbol, organism) -> gene record, for each symbol in each organism it resolves in."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for symbol in sorted({s.strip() for s in symbols if s and s.strip()}):
        for organism in organisms:
            gene = resolve_symbol(client, symbol, organism)
            if gene is not None:
                found[(symbol, organism)] = gene
    return found
