"""The DAG's ``doc_md``: what the pipeline does, its stages and policies, and its spec.

Shown on the DAG's page in the UI, so an operator sees where the DAG came
from without opening the repository.
"""

from __future__ import annotations

from pipeline_factory.resilience.policy import Policy
from pipeline_factory.spec.checks import upstream_of
from pipeline_factory.spec.loader import LoadedSpec


def render_doc_md(loaded: LoadedSpec, policies: dict[str, Policy]) -> str:
    spec = loaded.spec
    upstream = upstream_of(spec)
    lines = [
        f"# {spec.name}",
        "",
        spec.description or "",
        "",
        f"Rendered by the pipeline factory from `{loaded.display}`.",
        "",
        *([f"Applicable sources: {', '.join(spec.applicable_sources)}.", ""] if spec.applicable_sources else []),
        "| stage | type | after | policy | compute |",
        "|---|---|---|---|---|",
    ]
    for stage in spec.stages:
        policy = stage.policy or spec.default_policy
        lines.append(
            f"| `{stage.name}` | {stage.type} | {', '.join(upstream[stage.name]) or '-'} "
            f"| {policy} ({policies[policy].max_attempts} attempts) | {stage.compute or 'default'} |"
        )
    try:
        source = loaded.file.read_text(encoding="utf-8")
    except OSError:
        source = ""
    if source:
        lines += ["", "## Spec", "", "```yaml", source.rstrip(), "```"]
    return "\n".join(lines)
