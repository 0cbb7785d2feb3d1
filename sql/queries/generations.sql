-- What `segkit restore` and the damaged-warehouse message read from a
-- generation of the warehouse (segkit/warehouse/generations.py, faults.py):
-- the live file or the previous one kept beside it.

-- name: latest_build
-- From meta.runs, ordered as segments.successful_runs orders them: a
-- generation is read before anything else in it is trusted.
select run_id, finished_at, customers, k
from meta.runs
where status = 'success'
order by finished_at desc, run_id desc
limit 1

-- name: runs
-- Every recorded run, whole: the runs of a generation that is put aside are
-- carried into the journal.
select * from meta.runs order by started_at, run_id

-- name: tables
-- Every table of a generation, to read each one whole before restoring it.
select schema_name, table_name
from duckdb_tables()
where not internal
order by schema_name, table_name

-- name: n_history_builds
-- How many builds' per-customer rows a generation holds (the rest were
-- trimmed): the room one build's rows take is estimated from it.
select count(distinct run_id) from segments.segment_history

-- name: database_size
-- The block size and how many blocks the file's header counts (free ones
-- included, some of which DuckDB may have cut off the end of the file).
select block_size, total_blocks
from pragma_database_size()
where database_name = current_database()

-- name: highest_block
-- The last block one table's data is stored in; the parameter is the
-- table's quoted name ("schema"."table"). Metadata only: no data is read.
select max(block_id) from pragma_storage_info(?) where block_id >= 0
