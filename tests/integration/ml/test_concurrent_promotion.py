"""Two promotions of one registered model racing in two real processes resolve to the better model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "race.classifier"

#: What each competing process runs: promote one run's model version under the shared lock.
CHILD = """
import json, os, sys
from pathlib import Path
from pipeline_factory.tracking.mlflow_config import configure
from pipeline_factory.tracking.promotion import promote
from pipeline_factory.tracking.promotion_rule import PromotionRule
from pipeline_factory.tracking.registry import RegisteredVersion

run_id, version, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
client = configure()
rule = PromotionRule(metric="macro_f1", min_improvement=0.001, floor=0.5)
(out.parent / (out.name + ".ready")).write_text("")
versions = {"classifier": RegisteredVersion(os.environ["RACE_MODEL"], version, run_id)}
result = promote(client, rule, run_id, versions, "classifier", lock_timeout_seconds=120)
out.write_text(json.dumps(result.as_dict()))
"""


def _candidate(client, experiment_id: str, macro_f1: float) -> tuple[str, str]:
    """An MLflow run with the metric and a registered version pointing at its artifact."""
    from pipeline_factory.tracking.registry import ensure_registered_model

    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "macro_f1", macro_f1)
    client.set_terminated(run.info.run_id)
    ensure_registered_model(client, MODEL)
    version = client.create_model_version(MODEL, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return run.info.run_id, str(version.version)


def test_two_concurrent_promotions_resolve_to_the_better_model(ml_data_dir: Path, tmp_path: Path):
    from pipeline_factory.tracking.mlflow_config import configure, ensure_experiment
    from pipeline_factory.tracking.promotion_lock import promotion_lock

    client = configure()
    experiment_id = ensure_experiment(client, "race")
    worse_run, worse_version = _candidate(client, experiment_id, 0.90)
    better_run, better_version = _candidate(client, experiment_id, 0.95)

    outs = {"worse": tmp_path / "worse.json", "better": tmp_path / "better.json"}
    env = {**os.environ, "RACE_MODEL": MODEL}
    # Hold the lock while both start, so both are queued on it when it frees: a real race for it.
    with promotion_lock(MODEL):
        procs = [
            subprocess.Popen([sys.executable, "-c", CHILD, run, version, str(outs[name])], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for name, run, version in (("worse", worse_run, worse_version), ("better", better_run, better_version))
        ]
        deadline = time.monotonic() + 120
        while not all(Path(f"{o}.ready").exists() for o in outs.values()):
            assert time.monotonic() < deadline, "the competing processes never started"
            assert all(p.poll() is None for p in procs), [p.communicate()[0][-2000:] for p in procs]
            time.sleep(0.1)
        time.sleep(1.0)
        assert not any(o.exists() for o in outs.values()), "a promotion ran while the lock was held"
    for proc in procs:
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, output[-3000:]

    results = {name: json.loads(path.read_text()) for name, path in outs.items()}
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert str(champion.version) == better_version
    # Whoever went second re-read the champion inside the lock and compared against it.
    first, second = sorted(results.values(), key=lambda r: r["previous_champion_version"] is not None)
    assert first["previous_champion_version"] is None and first["outcome"] == "champion"
    assert second["previous_champion_version"] == first["candidate_version"]
    if first["candidate_version"] == worse_version:
        assert second["outcome"] == "champion"
        assert second["champion_value"] == pytest.approx(0.90)
    else:
        assert second["outcome"] == "challenger"
        assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == worse_version
    assert client.get_model_version(MODEL, champion.version).tags["promotion.decision"] == "champion"
