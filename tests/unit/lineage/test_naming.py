"""Dataset names in OpenLineage's naming, and no credential ever reaching one."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pipeline_factory.lineage.datasets import (
    LineageDataset,
    StageLineage,
    eutils_dataset,
    file_dataset,
    http_dataset,
    lineage,
    mlflow_model_dataset,
    neo4j_dataset,
    qdrant_dataset,
    sql_table_dataset,
)


def test_names_of_each_system(tmp_path: Path):
    assert file_dataset(tmp_path / "a.json").key() == ("file", str(tmp_path / "a.json"))
    assert eutils_dataset("https://eutils.ncbi.nlm.nih.gov/entrez/eutils", "esearch.fcgi",
                          {"db": "pubmed", "term": "CAR-T cell therapy"}).key() == (
        "https://eutils.ncbi.nlm.nih.gov", "/entrez/eutils/esearch.fcgi?db=pubmed&term=CAR-T%20cell%20therapy")
    assert neo4j_dataset("bolt://graph:7687", None, "Paper").key() == ("neo4j://graph:7687", "neo4j.Paper")
    assert neo4j_dataset("neo4j+s://graph", "papers", "Gene").key() == ("neo4j://graph:7687", "papers.Gene")
    assert qdrant_dataset("http://qdrant:6333", tmp_path, "docs").key() == ("qdrant://qdrant:6333", "docs")
    assert qdrant_dataset(None, tmp_path, "docs").key() == ("file", str(tmp_path / "collection" / "docs"))
    assert sql_table_dataset("postgresql+psycopg2://u:p@db:5432/pipelines", "jobs").key() == (
        "postgres://db:5432", "pipelines.public.jobs")
    assert sql_table_dataset(f"sqlite:///{tmp_path}/ledger.sqlite", "jobs").key() == (
        f"sqlite://{tmp_path}/ledger.sqlite", "jobs")
    assert mlflow_model_dataset("http://mlflow:5000", "m.lgbm").key() == (
        "http://mlflow:5000", "registered_models/m.lgbm")
    assert http_dataset("https://host.example/docs.json?token=x").key() == ("https://host.example", "/docs.json")


def test_the_same_dataset_twice_is_one_with_what_both_knew():
    merged = lineage(outputs=[LineageDataset("file", "/a", row_count=3),
                              LineageDataset("file", "/a", fields=(("x", "int"),))])
    assert merged.outputs == (LineageDataset("file", "/a", fields=(("x", "int"),), row_count=3),)
    both = StageLineage(inputs=(LineageDataset("file", "/in"),)) + StageLineage(outputs=(LineageDataset("file", "/o"),))
    assert StageLineage.from_json(both.to_json()) == both


secrets = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=12, max_size=24)


@given(user=secrets, password=secrets, key=secrets)
def test_no_credential_ever_reaches_a_dataset(user: str, password: str, key: str):
    made = [
        neo4j_dataset(f"bolt://{user}:{password}@graph:7687", None, "Paper"),
        qdrant_dataset(f"https://{user}:{password}@qdrant.example:6333?api_key={key}", Path("/q"), "c"),
        sql_table_dataset(f"postgresql+psycopg2://{user}:{password}@db/pipelines?sslpassword={key}", "jobs"),
        mlflow_model_dataset(f"https://{user}:{password}@mlflow.example/?token={key}", "m"),
        http_dataset(f"https://{user}:{password}@docs.example/list.json?api_key={key}"),
        eutils_dataset(f"https://{user}:{password}@eutils.example/entrez/eutils", "esearch.fcgi", {"db": "pubmed"}),
    ]
    for dataset in made:
        text = f"{dataset.namespace} {dataset.name}"
        assert password not in text and key not in text and user not in text, text
