"""Write the sample PDFs of ``examples/pdfs`` (and their source records) with fpdf2.

``make run`` feeds ``examples/pdf_sources.jsonl`` to ``docs_pdf_two_phase``;
rerun this script to regenerate the files after changing the texts.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

PAPERS = {
    "pdf-brca1": (
        "BRCA1 testing in breast cancer",
        [
            (
                "1 Introduction",
                "Germline mutations in the BRCA1 gene raise the risk of breast cancer and ovarian "
                "cancer. Carriers benefit from olaparib.",
            ),
            (
                "2 Results",
                "Pathogenic BRCA1 mutations were found in 6% of 1,200 women. Loss of BRCA1 expression "
                "sensitised tumours to cisplatin.",
            ),
        ],
    ),
    "pdf-cftr": (
        "Ivacaftor in cystic fibrosis",
        [
            (
                "1 Background",
                "Cystic fibrosis is caused by mutations in the CFTR gene. Ivacaftor potentiates the CFTR protein.",
            ),
            ("2 Outcome", "Lung function improved by 10 points in patients with cystic fibrosis."),
        ],
    ),
    "pdf-egfr": (
        "Osimertinib for EGFR-mutant lung cancer",
        [
            ("1 Introduction", "Activating EGFR mutations define a subset of non-small cell lung cancer."),
            ("2 Results", "Osimertinib prolonged survival. Resistance arose through EGFR mutation C797S."),
        ],
    ),
}


def write_pdf(path: Path, title: str, sections: list[tuple[str, str]]) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    for number, (heading, text) in enumerate(sections):
        pdf.add_page()
        if number == 0:
            pdf.set_font("Helvetica", "B", 16)
            pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 13)
        pdf.multi_cell(0, 9, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def main() -> None:
    out = HERE / "pdfs"
    out.mkdir(exist_ok=True)
    records = []
    for doc_id, (title, sections) in PAPERS.items():
        path = out / f"{doc_id}.pdf"
        write_pdf(path, title, sections)
        records.append({"doc_id": doc_id, "title": title, "pdf_url": f"file:examples/pdfs/{path.name}"})
    (HERE / "pdf_sources").mkdir(exist_ok=True)
    with (HERE / "pdf_sources" / "papers.jsonl").open("w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
