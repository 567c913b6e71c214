"""The local OpenLineage receiver: what the client's HTTP transport sends is accepted, what breaks the schema is not."""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline_factory.devservers.lineage_receiver import EventInvalid, LineageReceiver, validate_event


def _event() -> Any:
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import output_statistics_output_dataset, parent_run, schema_dataset

    parent = parent_run.ParentRunFacet(run=parent_run.Run(runId=str(uuid.uuid4())),
                                       job=parent_run.Job(namespace="pipeline-factory", name="graphrag_incremental"))
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=str(uuid.uuid4()), facets={"parent": parent}),
        job=Job(namespace="pipeline-factory", name="graphrag_incremental.collect_pubmed"),
        producer="https://example.org/pipeline-factory",
        inputs=[InputDataset(namespace="https://eutils.ncbi.nlm.nih.gov",
                             name="/entrez/eutils/esearch.fcgi?db=pubmed&term=TP53")],
        outputs=[OutputDataset(
            namespace="file", name="/data/graphrag/current/papers.json",
            facets={"schema": schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name="pmid", type="string")])},
            outputFacets={"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=16)},
        )],
    )


def _as_json(event: Any) -> dict[str, Any]:
    from openlineage.client.serde import Serde

    return json.loads(Serde.to_json(event))


def test_the_client_http_transport_delivers_to_the_receiver():
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    with LineageReceiver() as receiver:
        client = OpenLineageClient(transport=HttpTransport(HttpConfig(url=receiver.url)))
        client.emit(_event())
    assert receiver.invalid == []
    (received,) = receiver.events
    assert received["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 16
    assert set(receiver.task_events("graphrag_incremental")) == {"collect_pubmed"}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(event: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = event
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value

    return mutate


BROKEN = {
    "run id not a UUID": _set("run.runId", "run-1"),
    "unknown event type": _set("eventType", "DONE"),
    "event time not a time": _set("eventTime", "yesterday"),
    "no job": _set("job", KeyError),
    "dataset without a name": _set("inputs.0.name", ""),
    "row count not a number": _set("outputs.0.outputFacets.outputStatistics.rowCount", "sixteen"),
    "schema fields not a list": _set("outputs.0.facets.schema.fields", {"pmid": "string"}),
    "schema field without a name": _set("outputs.0.facets.schema.fields.0.name", KeyError),
    "facet without a schema URL": _set("outputs.0.facets.schema._schemaURL", KeyError),
    "parent run without a job": _set("run.facets.parent.job", KeyError),
    "producer not a URI": _set("producer", "me"),
}


@pytest.mark.parametrize("mutate", BROKEN.values(), ids=BROKEN.keys())
def test_an_event_that_breaks_the_schema_is_refused_with_the_reason(mutate):
    good = _as_json(_event())
    validate_event(copy.deepcopy(good))
    broken = copy.deepcopy(good)
    mutate(broken)
    with pytest.raises(EventInvalid):
        validate_event(broken)
    with LineageReceiver() as receiver:
        request = urllib.request.Request(f"{receiver.url}/api/v1/lineage", data=json.dumps(broken).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and refused.value.read()
    assert receiver.events == [] and len(receiver.invalid) == 1
