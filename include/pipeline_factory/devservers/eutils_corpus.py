"""The stand-in's deterministic corpus, rendered in NCBI's own XML and JSON shapes.

Every search term owns a fixed set of PMIDs (derived from a hash of the term)
and every PMID renders to the same paper whatever the order of requests, so a
test can reason about what a run must collect.  The XML follows the real
``efetch db=pubmed`` and ``esearch``/``elink`` answers recorded in
``tests/fixtures/ncbi/``; gene summaries follow ``esummary db=gene
retmode=json``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from xml.sax.saxutils import escape

#: (gene id, symbol, description, organism, taxid, chromosome)
GENES: tuple[tuple[str, str, str, str, int, str], ...] = (
    ("7157", "TP53", "tumor protein p53", "Homo sapiens", 9606, "17"),
    ("672", "BRCA1", "BRCA1 DNA repair associated", "Homo sapiens", 9606, "17"),
    ("675", "BRCA2", "BRCA2 DNA repair associated", "Homo sapiens", 9606, "13"),
    ("1956", "EGFR", "epidermal growth factor receptor", "Homo sapiens", 9606, "7"),
    ("3845", "KRAS", "KRAS proto-oncogene, GTPase", "Homo sapiens", 9606, "12"),
    ("4609", "MYC", "MYC proto-oncogene, bHLH transcription factor", "Homo sapiens", 9606, "8"),
    ("5728", "PTEN", "phosphatase and tensin homolog", "Homo sapiens", 9606, "10"),
    ("930", "CD19", "CD19 molecule", "Homo sapiens", 9606, "16"),
    ("5133", "PDCD1", "programmed cell death 1", "Homo sapiens", 9606, "2"),
    ("29126", "CD274", "CD274 molecule", "Homo sapiens", 9606, "9"),
    ("1493", "CTLA4", "cytotoxic T-lymphocyte associated protein 4", "Homo sapiens", 9606, "2"),
    ("3558", "IL2", "interleukin 2", "Homo sapiens", 9606, "4"),
    ("3458", "IFNG", "interferon gamma", "Homo sapiens", 9606, "12"),
    ("7124", "TNF", "tumor necrosis factor", "Homo sapiens", 9606, "6"),
    ("7422", "VEGFA", "vascular endothelial growth factor A", "Homo sapiens", 9606, "6"),
    ("2064", "ERBB2", "erb-b2 receptor tyrosine kinase 2", "Homo sapiens", 9606, "17"),
    ("673", "BRAF", "B-Raf proto-oncogene, serine/threonine kinase", "Homo sapiens", 9606, "7"),
    ("5290", "PIK3CA", "phosphatidylinositol-4,5-bisphosphate 3-kinase catalytic subunit alpha",
     "Homo sapiens", 9606, "3"),
    ("1080", "CFTR", "CF transmembrane conductance regulator", "Homo sapiens", 9606, "7"),
    ("3043", "HBB", "hemoglobin subunit beta", "Homo sapiens", 9606, "11"),
    ("1756", "DMD", "dystrophin", "Homo sapiens", 9606, "X"),
    ("3064", "HTT", "huntingtin", "Homo sapiens", 9606, "4"),
    ("255738", "PCSK9", "proprotein convertase subtilisin/kexin type 9", "Homo sapiens", 9606, "1"),
    ("1234", "CCR5", "C-C motif chemokine receptor 5", "Homo sapiens", 9606, "3"),
    ("59272", "ACE2", "angiotensin converting enzyme 2", "Homo sapiens", 9606, "X"),
    ("931", "MS4A1", "membrane spanning 4-domains A1", "Homo sapiens", 9606, "11"),
    ("22059", "Trp53", "transformation related protein 53", "Mus musculus", 10090, "11"),
    ("12189", "Brca1", "breast cancer 1, early onset", "Mus musculus", 10090, "11"),
    ("13649", "Egfr", "epidermal growth factor receptor", "Mus musculus", 10090, "11"),
    ("12478", "Cd19", "CD19 antigen", "Mus musculus", 10090, "7"),
)
GENES_BY_ID = {g[0]: g for g in GENES}

#: Other names, as NCBI Gene lists them (``otheraliases``; a subset).  They make
#: symbols ambiguous as in the real data: ``TRP53`` is an alias of human TP53 and,
#: ignoring case, the official symbol of mouse Trp53; ``p53`` names both.
ALIASES: dict[str, tuple[str, ...]] = {
    "7157": ("BCC7", "BMFS5", "LFS1", "P53", "TRP53"),
    "22059": ("Tp53", "bbl", "bfy", "bhy", "p44", "p53"),
    "1956": ("ERBB", "ERBB1", "HER1", "NISBD2", "PIG61", "mENA"),
    "672": ("BRCAI", "BRCC1", "BROVCA1", "FANCS", "IRIS", "PNCA4", "PPP1R53", "PSCP", "RNF53"),
    "930": ("B4", "CVID3"),
    "5133": ("CD279", "PD-1", "PD1", "SLEB2", "hPD-1", "hSLE1"),
    "29126": ("B7-H", "B7H1", "PD-L1", "PDCD1L1", "PDCD1LG1", "PDL1", "hPD-L1"),
    "2064": ("CD340", "HER-2", "HER2", "NEU", "NGL", "TKR1", "VSCN2"),
    "3845": ("C-K-RAS", "CFC2", "KI-RAS", "KRAS1", "KRAS2", "NS", "NS3", "RASK2"),
    "7124": ("DIF", "TNF-alpha", "TNFA", "TNFSF2", "TNLG1F"),
    "7422": ("MVCD1", "VEGF", "VPF"),
}

MESH = (
    ("D000069550", "CRISPR-Cas Systems"), ("D064113", "Gene Editing"), ("D009369", "Neoplasms"),
    ("D007167", "Immunotherapy"), ("D017422", "Sequence Analysis, DNA"),
    ("D059014", "High-Throughput Nucleotide Sequencing"),
    ("D000078743", "Receptors, Chimeric Antigen"), ("D000086663", "mRNA Vaccines"), ("D006801", "Humans"),
    ("D051379", "Mice"), ("D015316", "Genetic Therapy"), ("D016147", "Genes, Tumor Suppressor"),
    ("D009154", "Mutation"), ("D005786", "Gene Expression Regulation"), ("D013601", "T-Lymphocytes"),
)
JOURNALS = (
    ("0410462", "Nature", "Nature", "0028-0836"), ("0404511", "Science", "Science", "0036-8075"),
    ("0413066", "Cell", "Cell", "0092-8674"), ("9502015", "Nature medicine", "Nat Med", "1078-8956"),
    ("101528555", "Nature communications", "Nat Commun", "2041-1723"),
    ("8406703", "The New England journal of medicine", "N Engl J Med", "0028-4793"),
)
LAST_NAMES = ("Smith", "Zhang", "Garcia", "Müller", "Kim", "Rossi", "Okafor", "Silva", "Nguyen", "Kowalski",
              "Haddad", "Tanaka", "Ivanova", "Dubois", "Patel", "O'Brien")
FORE_NAMES = ("Anna", "Wei", "Carlos", "Jürgen", "Min-Jun", "Giulia", "Chidi", "Ana", "Linh", "Piotr",
              "Rania", "Haruto", "Olga", "Claire", "Priya", "Sean")
WORDS = ("regulates", "targets", "modulates", "predicts", "enhances", "suppresses", "reveals", "improves")
NOUNS = ("tumour growth", "T cell response", "off-target activity", "clinical outcome", "gene expression",
         "immune escape", "variant calling", "antibody titres", "editing efficiency", "relapse risk")

FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2026, 10, 31)


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


def term_pmids(term: str, size: int) -> list[str]:
    """The PMIDs a term matches: a block of ``size`` ids chosen by the term's hash."""
    slot = _seed("term", term.strip().lower()) % 8000
    base = 10_000_000 + slot * 4_000
    return [str(base + i) for i in range(size)]


@dataclass(frozen=True)
class Paper:
    pmid: str
    title: str
    abstract_background: str
    abstract_results: str
    journal: tuple[str, str, str, str]
    published: date
    authors: tuple[tuple[str, str], ...]
    mesh: tuple[tuple[str, str], ...]
    gene_ids: tuple[str, ...]

    @property
    def doi(self) -> str:
        return f"10.5555/pf.{self.pmid}"


@lru_cache(maxsize=100_000)
def paper(pmid: str, topic: str | None = None) -> Paper:
    rng = random.Random(_seed("paper", pmid))
    genes = rng.sample(GENES, rng.randint(0, 3))
    symbols = [g[1] for g in genes]
    subject = " and ".join(symbols) if symbols else rng.choice(("A novel approach", "Large-scale analysis"))
    title = f"{subject} {rng.choice(WORDS)} {rng.choice(NOUNS)}"
    if topic:
        title += f" in {topic}"
    background = (
        f"We studied {rng.choice(NOUNS)} in {rng.randint(20, 2000)} samples"
        + (f", focusing on {', '.join(symbols)}" if symbols else "")
        + (f" in the context of {topic}." if topic else ".")
    )
    strength = rng.choice(("significant", "modest", "robust"))
    results = f"The effect on {rng.choice(NOUNS)} was {strength} (p<0.0{rng.randint(1, 5)})."
    published = FIRST_DATE + timedelta(days=rng.randrange((LAST_DATE - FIRST_DATE).days + 1))
    authors = tuple((rng.choice(LAST_NAMES), rng.choice(FORE_NAMES)) for _ in range(rng.randint(1, 6)))
    mesh = tuple(sorted(rng.sample(MESH, rng.randint(2, 5))))
    return Paper(
        pmid=pmid,
        title=title + ".",
        abstract_background=background,
        abstract_results=results,
        journal=rng.choice(JOURNALS),
        published=published,
        authors=authors,
        mesh=mesh,
        gene_ids=tuple(g[0] for g in genes),
    )


def major_topics(p: Paper) -> set[str]:
    """The MeSH UIs starred as major topics: one or two of the paper's headings, chosen by its pmid."""
    rng = random.Random(_seed("major", p.pmid))
    return {ui for ui, _ in rng.sample(p.mesh, min(len(p.mesh), rng.randint(1, 2)))}


_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

XML_HEAD = '<?xml version="1.0" ?>\n'
PUBMED_DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)


def article_xml(p: Paper) -> str:
    e = escape
    nlm_id, title, iso, issn = p.journal
    authors = "".join(
        f'<Author ValidYN="Y"><LastName>{e(last)}</LastName><ForeName>{e(fore)}</ForeName>'
        f"<Initials>{e(fore[0])}</Initials></Author>"
        for last, fore in p.authors
    )
    major = major_topics(p)
    mesh = "".join(
        f'<MeshHeading><DescriptorName UI="{ui}" MajorTopicYN="{"Y" if ui in major else "N"}">{e(name)}'
        "</DescriptorName></MeshHeading>"
        for ui, name in p.mesh
    )
    d = p.published
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM" IndexingMethod="Automated">'
        f'<PMID Version="1">{p.pmid}</PMID>'
        f'<Article PubModel="Print-Electronic"><Journal><ISSN IssnType="Electronic">{issn}</ISSN>'
        f'<JournalIssue CitedMedium="Internet"><Volume>{d.year - 1990}</Volume><Issue>{d.month}</Issue>'
        f"<PubDate><Year>{d.year}</Year><Month>{_MONTH_NAMES[d.month - 1]}</Month><Day>{d.day:02d}</Day>"
        f"</PubDate></JournalIssue><Title>{e(title)}</Title><ISOAbbreviation>{e(iso)}</ISOAbbreviation>"
        f"</Journal><ArticleTitle>{e(p.title)}</ArticleTitle>"
        f"<Pagination><StartPage>{int(p.pmid) % 900 + 1}</StartPage></Pagination>"
        f'<ELocationID EIdType="doi" ValidYN="Y">{p.doi}</ELocationID>'
        f'<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">{e(p.abstract_background)}'
        f'</AbstractText><AbstractText Label="RESULTS" NlmCategory="RESULTS">{e(p.abstract_results)}'
        f'</AbstractText></Abstract><AuthorList CompleteYN="Y">{authors}</AuthorList>'
        f'<Language>eng</Language><PublicationTypeList><PublicationType UI="D016428">Journal Article'
        f"</PublicationType></PublicationTypeList></Article>"
        f"<MedlineJournalInfo><Country>England</Country><MedlineTA>{e(iso)}</MedlineTA>"
        f"<NlmUniqueID>{nlm_id}</NlmUniqueID></MedlineJournalInfo>"
        f"<MeshHeadingList>{mesh}</MeshHeadingList></MedlineCitation>"
        f'<PubmedData><PublicationStatus>ppublish</PublicationStatus><ArticleIdList>'
        f'<ArticleId IdType="pubmed">{p.pmid}</ArticleId><ArticleId IdType="doi">{p.doi}</ArticleId>'
        f"</ArticleIdList></PubmedData></PubmedArticle>"
    )


def pubmed_set_xml(papers: list[Paper]) -> str:
    body = "\n".join(article_xml(p) for p in papers)
    return f"{XML_HEAD}{PUBMED_DOCTYPE}<PubmedArticleSet>\n{body}\n</PubmedArticleSet>\n"


def esearch_xml(
    count: int, ids: list[str], retstart: int, *, webenv: str | None, query_key: str | None, translation: str
) -> str:
    history = f"<QueryKey>{query_key}</QueryKey><WebEnv>{webenv}</WebEnv>" if webenv else ""
    id_list = "".join(f"\n<Id>{i}</Id>" for i in ids)
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        '<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
        '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
        f"<eSearchResult><Count>{count}</Count><RetMax>{len(ids)}</RetMax><RetStart>{retstart}</RetStart>"
        f"{history}<IdList>{id_list}\n</IdList><TranslationSet/>"
        f"<QueryTranslation>{escape(translation)}</QueryTranslation></eSearchResult>\n"
    )


def elink_xml(dbfrom: str, db: str, link_sets: list[tuple[str, list[str]]]) -> str:
    parts = []
    for source, targets in link_sets:
        links = "".join(f"\n        <Link>\n\t\t\t\t<Id>{t}</Id>\n\t\t\t</Link>" for t in targets)
        db_set = (
            f"\n    <LinkSetDb>\n      <DbTo>{db}</DbTo>\n      <LinkName>{dbfrom}_{db}</LinkName>{links}\n"
            "    </LinkSetDb>"
            if targets
            else ""
        )
        parts.append(
            f"\n  <LinkSet>\n    <DbFrom>{dbfrom}</DbFrom>\n    <IdList>\n      <Id>{source}</Id>\n"
            f"    </IdList>{db_set}\n  </LinkSet>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        '<!DOCTYPE eLinkResult PUBLIC "-//NLM//DTD elink 20101123//EN" '
        '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20101123/elink.dtd">\n'
        f"<eLinkResult>{''.join(parts)}\n</eLinkResult>\n"
    )


def gene_summary(gene_id: str) -> dict:
    gid, symbol, description, organism, taxid, chromosome = GENES_BY_ID[gene_id]
    common = {"Homo sapiens": "human", "Mus musculus": "house mouse"}[organism]
    return {
        "uid": gid,
        "name": symbol,
        "description": description,
        "status": "",
        "currentid": "",
        "chromosome": chromosome,
        "geneticsource": "genomic",
        "maplocation": f"{chromosome}q1",
        "otheraliases": ", ".join(ALIASES.get(gid, ())),
        "otherdesignations": description,
        "nomenclaturesymbol": symbol,
        "nomenclaturename": description,
        "nomenclaturestatus": "Official",
        "mim": [],
        "genomicinfo": [],
        "summary": f"This gene encodes {description}.",
        "organism": {"scientificname": organism, "commonname": common, "taxid": taxid},
    }


def gene_esummary_json(gene_ids: list[str]) -> dict:
    result: dict = {"uids": []}
    for gid in gene_ids:
        result["uids"].append(gid)
        result[gid] = gene_summary(gid) if gid in GENES_BY_ID else {"uid": gid, "error": "cannot get document summary"}
    return {"header": {"type": "esummary", "version": "0.3"}, "result": result}
