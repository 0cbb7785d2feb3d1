"""``segkit build``: the whole pipeline, from source rows to published segments.

The order of a build, and why:

1. take the build lock (builders run one at a time), record the run as
   ``running`` in the journal beside the warehouse (with its pid and start
   time) and remove what killed builds left (their next file, spill folders);
2. compute everything with the build's engine (:mod:`segkit.engines`): the
   SQL models and features in a private in-memory DuckDB (or in Spark), the
   model, the t-SNE map (the warehouse file is only ever read); the steps
   and their order are the same on every engine;
3. log to MLflow and register the model version;
4. write the next warehouse: a copy of the live file plus every table, view
   and the run row (``write-back``), then render the report from it;
5. swap the next warehouse in with one atomic rename, then write the report
   file. A build that fails or is killed before the rename leaves the live
   file untouched; readers never wait for a build, nor a build for readers.

One module per job:

- ``sequence``: the build sequence, for every engine (:func:`build` and its steps);
- ``runs``: the run registry: run ids, the journal, the previous build;
- ``carryover``: segments that continue from the previous build keep ids and names;
- ``tables``: the per-run tables a build publishes;
- ``publish``: writing the next warehouse (tables, views, the run row);
- ``progress``: stage timing, progress events and the build's result;
- ``warmup``: the data-independent slow work started beside the SQL stage.
"""

from __future__ import annotations

from segkit.pipeline.progress import BuildResult, Progress
from segkit.pipeline.runs import new_run_id
from segkit.pipeline.sequence import build, engine_for

__all__ = ["build", "engine_for", "BuildResult", "Progress", "new_run_id"]
