"""The DAG's ``doc_md``: what the pipeline does, its stages and policies, and its spec.

Shown on the DAG's page in the UI, so an operator sees where the DAG came
from without opening the repository.  Every column comes from the resolved
stages the builder used, so the docs say what the tasks really do.
"""

from __future__ import annotations

from pipeline_factory.spec.loader import LoadedSpec


def render_doc_md(loaded: LoadedSpec) -> str:
    spec = loaded.spec
    lines = [
        f"# {spec.name}",
        "",
        spec.description or "",
        "",
        f"Rendered by the pipeline factory from `{loaded.display}`.",
        "",
        *([f"Applicable sources: {', '.join(spec.applicable_sources)}.", ""] if spec.applicable_sources else []),
        "| stage | type | after | inputs | policy | compute |",
        "|---|---|---|---|---|---|",
    ]
    for stage in loaded.stages.values():
        inputs = ", ".join(f"{kind} ← `{producer}`" for kind, producer in stage.inputs.items()) or "-"
        budget = stage.budget
        attempts = f"{budget.total} attempts"
        if budget.in_task_attempts > 1:
            attempts += f": {budget.in_task_attempts} per request in task x {budget.task_attempts} task run(s)"
        lines.append(
            f"| `{stage.name}` | {stage.type} | {', '.join(stage.upstream) or '-'} | {inputs} "
            f"| {stage.policy.name} ({attempts}) | {stage.compute} |"
        )
    try:
        source = loaded.file.read_text(encoding="utf-8")
    except (OSError, ValueError):
        source = ""
    if source:
        lines += ["", "## Spec", "", "```yaml", source.rstrip(), "```"]
    return "\n".join(lines)
