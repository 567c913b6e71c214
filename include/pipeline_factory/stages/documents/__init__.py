"""Document pipelines: ingest, parse, download_pdf, pdf_to_ir, chunk, embed, index, extract, kg.

Every stage works on the run's *live* jobs (those the ledger has not marked
failed), records its progress in the ledger and emits CloudEvents there; a
job that fails is marked failed at once and no later stage touches it.
"""
