"""The consistency check never reports a half-written store as a mismatch, and still finds real ones.

A model of the stores (sets of ids) and of a writing run (incremental update
or full rebuild, advancing one step each time the check sleeps) is driven
through the real :func:`settled_compare` and the real writer registry.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.stages.graphrag.consistency import Findings, settled_compare
from pipeline_factory.stages.graphrag.writers import WriterRegistry


class World:
    def __init__(self, papers: int, registry: WriterRegistry, *, mode: str, new: int, chunk: int, dies: bool):
        self.snapshot = {f"p{i}" for i in range(papers)}
        self.graph = set(self.snapshot)
        self.registry = registry
        self.clock = 0.0
        adds = {f"n{i}" for i in range(new)}
        steps = [lambda: registry.begin("graphrag_writer", "run1", "collect_pubmed")]
        steps.append(lambda: self.snapshot.update(adds))
        if mode == "rebuild":
            steps.append(self.graph.clear)
            items = sorted(self.snapshot | adds)
        else:
            items = sorted(adds)
        for start in range(0, len(items), chunk):
            part = set(items[start : start + chunk])
            steps.append(lambda part=part: self.graph.update(part))
        if not dies:
            steps.append(lambda: registry.end("graphrag_writer", "run1"))
        self.steps = steps

    def advance(self) -> None:
        if self.steps:
            self.steps.pop(0)()

    def sleep(self, seconds: float) -> None:
        self.clock += max(seconds, 1.0)
        self.advance()

    def compare(self) -> Findings:
        return Findings(
            papers_missing_in_graph=sorted(self.snapshot - self.graph),
            papers_extra_in_graph=sorted(self.graph - self.snapshot),
        )


@settings(max_examples=150, deadline=None)
@given(
    papers=st.integers(1, 12),
    mode=st.sampled_from(["incremental", "rebuild"]),
    new=st.integers(0, 6),
    chunk=st.integers(1, 5),
    head_start=st.integers(0, 20),
    dies=st.booleans(),
    deleted=st.none() | st.integers(0, 11),
    recheck=st.sampled_from([0.0, 5.0]),
)
def test_never_a_false_mismatch_while_a_run_writes(papers, mode, new, chunk, head_start, dies, deleted, recheck):
    with tempfile.TemporaryDirectory() as tmp:
        registry = WriterRegistry(Path(tmp))
        world = World(papers, registry, mode=mode, new=new, chunk=chunk, dies=dies)
        if deleted is not None and deleted < papers:
            world.graph.discard(f"p{deleted}")  # behind everyone's back, before the run starts
        for _ in range(head_start):  # the run is somewhere in its stages when the check starts
            world.advance()
        verdict = settled_compare(
            world.compare, registry, wait_seconds=60, poll_seconds=1, recheck_seconds=recheck,
            sleep=world.sleep, clock=lambda: world.clock,
        )
        if verdict.status == "skipped":
            assert verdict.findings.total == 0 and dies  # only a run that never finishes keeps it waiting
            return
        while world.steps:  # let the run finish: what is wrong then is what really is wrong
            world.advance()
        truth = world.compare()
        if dies:  # checked before the dead run began: nothing it wrote can be in the findings
            assert set(verdict.findings.papers_missing_in_graph) <= {f"p{deleted}"}
            return
        assert verdict.findings.as_dict() == truth.as_dict()  # exactly what is really wrong, nothing else
        if deleted is not None and deleted < papers and mode == "incremental":
            assert verdict.findings.papers_missing_in_graph == [f"p{deleted}"]  # a real loss is still found


def test_a_mismatch_that_resolves_before_the_second_look_is_transient():
    with tempfile.TemporaryDirectory() as tmp:
        registry = WriterRegistry(Path(tmp))
        looks = [Findings(papers_missing_in_graph=["1", "2"]), Findings(papers_missing_in_graph=["2"])]
        verdict = settled_compare(lambda: looks.pop(0), registry, wait_seconds=0, poll_seconds=1,
                                  recheck_seconds=0, sleep=lambda s: None)
        assert verdict.status == "checked" and verdict.findings.papers_missing_in_graph == ["2"]
        assert verdict.transient.papers_missing_in_graph == ["1"] and verdict.comparisons == 2


def test_an_abandoned_writer_stops_holding_the_check_back():
    with tempfile.TemporaryDirectory() as tmp:
        registry = WriterRegistry(Path(tmp))
        registry.begin("graphrag_full_rebuild", "scheduled__1", "update_graph", lease_seconds=0)
        assert registry.active() == [] and registry.abandoned()[0]["run_id"] == "scheduled__1"
        registry.begin("graphrag_incremental", "scheduled__2", "collect_pubmed")
        assert [m["run_id"] for m in registry.active()] == ["scheduled__2"]
        assert registry.end("graphrag_incremental", "scheduled__2") and not registry.end("x", "y")


def test_the_pipeline_waits_for_writers_before_taking_the_pool_slot(tmp_path):
    from pipeline_factory.stages.contracts import StageContext
    from pipeline_factory.stages.graphrag.consistency import AwaitStoreWriters
    from pipeline_factory.stages.graphrag.params import AwaitStoreWritersParams

    registry = WriterRegistry(tmp_path)
    registry.begin("graphrag_full_rebuild", "scheduled__1", "update_vectors")
    ctx = StageContext(pipeline="graphrag_consistency", stage="await_store_writers", run_id="r",
                       run_dir=tmp_path / "run", data_dir=tmp_path)

    class Waiting(AwaitStoreWriters):
        def _sleep(self, seconds: float) -> None:  # the rebuild's last stage runs meanwhile
            registry.end("graphrag_full_rebuild", "scheduled__1")

    done = Waiting().run(ctx, AwaitStoreWritersParams(poll_seconds=1))
    assert done["settled"] and done["waited_for"] == ["graphrag_full_rebuild/scheduled__1"]
    registry.begin("graphrag_incremental", "scheduled__2", "collect_pubmed")
    given_up = AwaitStoreWriters().run(ctx, AwaitStoreWritersParams(wait_for_writers_seconds=0))
    assert not given_up["settled"] and given_up["waited_for"] == ["graphrag_incremental/scheduled__2"]
