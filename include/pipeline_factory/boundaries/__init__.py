"""What a run's inputs may reach: local paths, URLs, and names that become paths.

Run params come from anyone who may trigger a DAG, and records from any
source a run reads; both are untrusted.  Every boundary is one small module:

* :mod:`.roots` - local sources only under the configured source roots;
* :mod:`.urls` - fetches only with allowed schemes to allowed destinations,
  checked after DNS resolution and on every redirect;
* :mod:`.names` - run ids, pipeline names and doc ids never escape their folder.

Each refuses with :class:`pipeline_factory.exceptions.InputRefused`, which a
stage turns into a failed job (or a failed stage) with a clear reason.
"""

from pipeline_factory.boundaries.names import check_doc_id, child, path_component
from pipeline_factory.boundaries.roots import confined, source_roots
from pipeline_factory.boundaries.urls import UrlPolicy, guarded_client, redact_url

__all__ = ["UrlPolicy", "check_doc_id", "child", "confined", "guarded_client", "path_component",
           "redact_url", "source_roots"]
