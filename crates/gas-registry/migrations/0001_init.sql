-- gas-registry schema, one source for SQLite and PostgreSQL: only SQL both accept (BIGINT, TEXT, DOUBLE PRECISION, no AUTOINCREMENT/SERIAL, no dialect functions).
CREATE TABLE uploads (
    model_id      TEXT PRIMARY KEY,
    hotkey        TEXT NOT NULL,
    modality      TEXT NOT NULL,
    vertical      TEXT NOT NULL,
    filename      TEXT NOT NULL,
    expected_hash TEXT NOT NULL,
    file_size     BIGINT NOT NULL,
    staging_key   TEXT NOT NULL,
    state         TEXT NOT NULL,          -- pending | received
    created_at    BIGINT NOT NULL,        -- unix ms
    expires_at    BIGINT NOT NULL         -- unix ms
);
CREATE INDEX uploads_hash ON uploads (expected_hash);
CREATE INDEX uploads_expiry ON uploads (expires_at);

CREATE TABLE models (
    model_id   TEXT PRIMARY KEY,
    hotkey     TEXT NOT NULL,
    modality   TEXT NOT NULL,
    vertical   TEXT NOT NULL,
    filename   TEXT NOT NULL,
    sha256     TEXT NOT NULL UNIQUE,
    size       BIGINT NOT NULL,
    r2_key     TEXT NOT NULL,
    status     TEXT NOT NULL,
    counted    BIGINT NOT NULL DEFAULT 1,
    reasons    TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX models_hotkey ON models (hotkey, modality);

CREATE TABLE quotas (
    hotkey   TEXT NOT NULL,
    modality TEXT NOT NULL,
    used     BIGINT NOT NULL,
    PRIMARY KEY (hotkey, modality)
);

CREATE TABLE jobs (
    job_id           TEXT PRIMARY KEY,
    model_id         TEXT NOT NULL REFERENCES models (model_id),
    stage            TEXT NOT NULL,       -- validate | exam | benchmark
    state            TEXT NOT NULL,       -- queued | running | done | failed
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_at BIGINT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL,
    result           TEXT,                -- JSON
    error            TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, created_at);
CREATE INDEX jobs_model ON jobs (model_id);

CREATE TABLE results (
    model_id   TEXT NOT NULL REFERENCES models (model_id),
    stage      TEXT NOT NULL,
    dataset    TEXT NOT NULL,             -- '*' = aggregate over the modality
    sn34       DOUBLE PRECISION,
    mcc        DOUBLE PRECISION,
    brier      DOUBLE PRECISION,
    accuracy   DOUBLE PRECISION,
    samples    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (model_id, stage, dataset)
);
