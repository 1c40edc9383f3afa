-- When the current (or last) attempt of a job started and when the job finished (unix ms), for
-- the benchmark runs of the miner API. One source for SQLite and PostgreSQL.
ALTER TABLE jobs ADD COLUMN started_at BIGINT;
ALTER TABLE jobs ADD COLUMN finished_at BIGINT;
CREATE INDEX models_board ON models (modality, vertical);
