-- The robustness pass (issue 12): the score on the samples as they are and on degraded copies;
-- `sn34` holds the blend when the pass ran. One source for SQLite and PostgreSQL.
ALTER TABLE results ADD COLUMN base_sn34 DOUBLE PRECISION;
ALTER TABLE results ADD COLUMN aug_sn34 DOUBLE PRECISION;
