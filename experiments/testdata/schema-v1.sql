-- A natssl experiment database as schema version 1 wrote it (before runs.error, tags and
-- latest_metrics), with one run: the migration test opens it and expects it upgraded in place.
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE runs (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL CHECK (status IN ('RUNNING','FINISHED','FAILED','KILLED')),
	started_at   TEXT NOT NULL,
	ended_at     TEXT,
	heartbeat_at TEXT,
	config_yaml  TEXT NOT NULL DEFAULT '',
	seed         INTEGER NOT NULL DEFAULT 0,
	git_commit   TEXT NOT NULL DEFAULT '',
	host         TEXT NOT NULL DEFAULT '',
	command      TEXT NOT NULL DEFAULT ''
);
CREATE TABLE params (
	run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	key    TEXT NOT NULL,
	value  TEXT NOT NULL,
	PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE metrics (
	run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	key    TEXT NOT NULL,
	step   INTEGER NOT NULL,
	value  REAL,
	at     TEXT NOT NULL,
	PRIMARY KEY (run_id, key, step)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
	run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	step   INTEGER NOT NULL,
	path   TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	bytes  INTEGER NOT NULL,
	at     TEXT NOT NULL,
	PRIMARY KEY (run_id, step)
);
CREATE TABLE evals (
	run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	checkpoint_step INTEGER NOT NULL,
	suite           TEXT NOT NULL,
	task            TEXT NOT NULL,
	cluster         TEXT NOT NULL DEFAULT '',
	subcluster      TEXT NOT NULL DEFAULT '',
	metric          TEXT NOT NULL,
	value           REAL,
	at              TEXT NOT NULL,
	PRIMARY KEY (run_id, checkpoint_step, suite, task, metric)
);
INSERT INTO runs VALUES ('5f1c0de0aa00bb11cc22dd33ee44ff55', 'old-run', 'FINISHED', '2026-01-01T10:00:00.000Z',
	'2026-01-01T11:00:00.000Z', '2026-01-01T11:00:00.000Z', 'run: {name: old-run}', 3, 'deadbeef', 'box', 'natssl train');
INSERT INTO params VALUES ('5f1c0de0aa00bb11cc22dd33ee44ff55', 'train.lr', '0.3');
INSERT INTO metrics VALUES ('5f1c0de0aa00bb11cc22dd33ee44ff55', 'loss', 1, 5.0, '2026-01-01T10:01:00.000Z');
INSERT INTO metrics VALUES ('5f1c0de0aa00bb11cc22dd33ee44ff55', 'loss', 2, 4.0, '2026-01-01T10:02:00.000Z');
INSERT INTO metrics VALUES ('5f1c0de0aa00bb11cc22dd33ee44ff55', 'loss', 3, 3.5, '2026-01-01T10:03:00.000Z');
INSERT INTO metrics VALUES ('5f1c0de0aa00bb11cc22dd33ee44ff55', 'images_per_s', 2, 100.0, '2026-01-01T10:02:00.000Z');
INSERT INTO checkpoints VALUES ('5f1c0de0aa00bb11cc22dd33ee44ff55', 3, 'runs/old/step-3.ckpt', 'aa', 10, '2026-01-01T10:03:00.000Z');
INSERT INTO evals VALUES ('5f1c0de0aa00bb11cc22dd33ee44ff55', 3, 'newt', 'bird_a', 'Birds', 'species', 'accuracy', 0.75, '2026-01-01T11:00:00.000Z');
INSERT INTO evals VALUES ('5f1c0de0aa00bb11cc22dd33ee44ff55', 3, 'newt', 'bird_b', 'Birds', 'age', 'accuracy', 0.25, '2026-01-01T11:00:00.000Z');
