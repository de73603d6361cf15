package experiments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// migrations[i] upgrades a database from schema version i to i+1. Append only: a released
// migration is never edited, because databases in the wild already ran it.
var migrations = []string{
	// 1: the tables of docs/DESIGN.md.
	`
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
`,
	// 2: why a run failed, free-form tags, and the latest value of every metric per run so that
	// listing runs does not scan the metric series.
	`
ALTER TABLE runs ADD COLUMN error TEXT NOT NULL DEFAULT '';
CREATE TABLE tags (
	run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	key    TEXT NOT NULL,
	value  TEXT NOT NULL,
	PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TABLE latest_metrics (
	run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	key    TEXT NOT NULL,
	step   INTEGER NOT NULL,
	value  REAL,
	at     TEXT NOT NULL,
	PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
INSERT INTO latest_metrics (run_id, key, step, value, at)
	SELECT m.run_id, m.key, m.step, m.value, m.at FROM metrics m
	WHERE m.step = (SELECT max(step) FROM metrics x WHERE x.run_id = m.run_id AND x.key = m.key);
CREATE INDEX runs_started ON runs (started_at);
`,
	// 3: each test image's outcome in an evaluation, beside the per-task rows of evals, so that
	// a report can resample test images for intervals and pair two runs image by image. Only
	// this table: it depends on runs alone.
	`
CREATE TABLE eval_outcomes (
	run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	checkpoint_step INTEGER NOT NULL,
	suite           TEXT NOT NULL,
	task            TEXT NOT NULL,
	image_id        TEXT NOT NULL,
	label           INTEGER NOT NULL,
	predicted       INTEGER NOT NULL,
	PRIMARY KEY (run_id, checkpoint_step, suite, task, image_id)
) WITHOUT ROWID;
`,
	// 4: the files natssl export wrote from a run's checkpoints: where, what, and which
	// checkpoint they came from. Only this table: it depends on runs alone.
	`
CREATE TABLE exports (
	run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	path              TEXT NOT NULL,
	format            TEXT NOT NULL,
	sha256            TEXT NOT NULL,
	bytes             INTEGER NOT NULL,
	checkpoint_step   INTEGER NOT NULL,
	checkpoint_sha256 TEXT NOT NULL,
	image_size        INTEGER NOT NULL,
	with_head         INTEGER NOT NULL CHECK (with_head IN (0, 1)),
	params            INTEGER NOT NULL,
	mflops            REAL NOT NULL,
	natssl_version    TEXT NOT NULL DEFAULT '',
	at                TEXT NOT NULL,
	PRIMARY KEY (run_id, path)
);
`,
	// 5: sweeps, each a base config and a list of trials (the values of the swept keys and the
	// seed); a trial's runs carry the tags sweep=<id> and trial=<n>. Only these tables: they
	// depend on nothing else.
	`
CREATE TABLE sweeps (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL DEFAULT '',
	created_at  TEXT NOT NULL,
	config_yaml TEXT NOT NULL,
	spec        TEXT NOT NULL DEFAULT '',
	command     TEXT NOT NULL DEFAULT ''
);
CREATE TABLE sweep_trials (
	sweep_id TEXT NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
	trial    INTEGER NOT NULL,
	config   INTEGER NOT NULL,
	seed     INTEGER NOT NULL,
	PRIMARY KEY (sweep_id, trial)
) WITHOUT ROWID;
CREATE TABLE sweep_values (
	sweep_id TEXT NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
	trial    INTEGER NOT NULL,
	ord      INTEGER NOT NULL,
	key      TEXT NOT NULL,
	value    TEXT NOT NULL,
	PRIMARY KEY (sweep_id, trial, ord)
) WITHOUT ROWID;
`,
	// 6: every evaluation kept, each with what it scored and how: the checkpoint, the suite
	// (the labels file's path and content hash, the images' path) and the classifier, so that a
	// second evaluation with another classifier is added beside the first instead of replacing
	// it. evals and eval_outcomes rows belong to one evaluation; the columns of schema 1 stay.
	// An evaluation recorded before this migration becomes one row of evaluations per run,
	// checkpoint step and suite, its classifier unrecorded (''). Runs can be archived: kept,
	// but left out of listings.
	`
CREATE TABLE evaluations (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	checkpoint_step INTEGER NOT NULL,
	checkpoint_path TEXT NOT NULL DEFAULT '',
	suite           TEXT NOT NULL,
	suite_path      TEXT NOT NULL DEFAULT '',
	suite_sha256    TEXT NOT NULL DEFAULT '',
	images_path     TEXT NOT NULL DEFAULT '',
	classifier      TEXT NOT NULL DEFAULT '',
	at              TEXT NOT NULL
);
CREATE INDEX evaluations_run ON evaluations (run_id, checkpoint_step);
INSERT INTO evaluations (run_id, checkpoint_step, suite, at)
	SELECT run_id, checkpoint_step, suite, max(at) FROM evals GROUP BY run_id, checkpoint_step, suite
	ORDER BY min(at), run_id, checkpoint_step, suite;
CREATE TABLE evals_v6 (
	evaluation_id   INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
	run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	checkpoint_step INTEGER NOT NULL,
	suite           TEXT NOT NULL,
	task            TEXT NOT NULL,
	cluster         TEXT NOT NULL DEFAULT '',
	subcluster      TEXT NOT NULL DEFAULT '',
	metric          TEXT NOT NULL,
	value           REAL,
	at              TEXT NOT NULL,
	PRIMARY KEY (evaluation_id, task, metric)
);
INSERT INTO evals_v6 (evaluation_id, run_id, checkpoint_step, suite, task, cluster, subcluster, metric, value, at)
	SELECT v.id, e.run_id, e.checkpoint_step, e.suite, e.task, e.cluster, e.subcluster, e.metric, e.value, e.at
	FROM evals e JOIN evaluations v ON v.run_id = e.run_id AND v.checkpoint_step = e.checkpoint_step AND v.suite = e.suite;
DROP TABLE evals;
ALTER TABLE evals_v6 RENAME TO evals;
CREATE INDEX evals_run ON evals (run_id, checkpoint_step);
CREATE TABLE eval_outcomes_v6 (
	evaluation_id   INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
	run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	checkpoint_step INTEGER NOT NULL,
	suite           TEXT NOT NULL,
	task            TEXT NOT NULL,
	image_id        TEXT NOT NULL,
	label           INTEGER NOT NULL,
	predicted       INTEGER NOT NULL,
	PRIMARY KEY (evaluation_id, task, image_id)
) WITHOUT ROWID;
INSERT INTO eval_outcomes_v6 (evaluation_id, run_id, checkpoint_step, suite, task, image_id, label, predicted)
	SELECT v.id, o.run_id, o.checkpoint_step, o.suite, o.task, o.image_id, o.label, o.predicted
	FROM eval_outcomes o JOIN evaluations v ON v.run_id = o.run_id AND v.checkpoint_step = o.checkpoint_step AND v.suite = o.suite;
DROP TABLE eval_outcomes;
ALTER TABLE eval_outcomes_v6 RENAME TO eval_outcomes;
ALTER TABLE runs ADD COLUMN archived_at TEXT;
`,
	// 7: the process writing a run (its id, beside runs.host), so that a resume can tell a run
	// whose process is alive from one whose process died. Only this column.
	`
ALTER TABLE runs ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
`,
}

// SchemaVersion is the schema this build writes.
var SchemaVersion = len(migrations)

// migrate brings the database to SchemaVersion inside one write transaction, so that two
// processes opening a fresh file at once cannot both run a migration.
func (db *DB) migrate(ctx context.Context) error {
	// A read first: it fails cleanly on a file SQLite cannot read, and lets a database that is
	// already current open without taking the write lock.
	v, err := schemaVersion(ctx, db.sql)
	if err != nil {
		return db.wrap("open", err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("experiments: open %s: %w (database is version %d, this natssl writes %d; upgrade natssl)",
			db.path, ErrNewerSchema, v, SchemaVersion)
	}
	// WAL lets the sqlite3 shell and other processes read while a run writes. The mode is
	// stored in the file, so every later connection gets it.
	var mode string
	if err := db.sql.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return db.wrap("open", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("experiments: open %s: cannot use write-ahead logging (journal mode stays %q)", db.path, mode)
	}
	if v == SchemaVersion {
		return nil
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap("migrate", err)
	}
	defer tx.Rollback()
	if v, err = schemaVersion(ctx, tx); err != nil { // another process may have migrated meanwhile
		return db.wrap("migrate", err)
	}
	if v > SchemaVersion {
		return fmt.Errorf("experiments: open %s: %w (database is version %d, this natssl writes %d; upgrade natssl)",
			db.path, ErrNewerSchema, v, SchemaVersion)
	}
	if v == 0 {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return db.wrap("migrate", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM schema_version)`); err != nil {
			return db.wrap("migrate", err)
		}
	}
	for ; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return db.wrap(fmt.Sprintf("migrate to schema %d:", v+1), err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, SchemaVersion); err != nil {
		return db.wrap("migrate", err)
	}
	if err := tx.Commit(); err != nil {
		return db.wrap("migrate", err)
	}
	return nil
}

// queryer is what *sql.DB and *sql.Tx share.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion reads the version; 0 for a new, empty database. A database that has tables but
// no schema_version was not written by natssl and is refused. The tables are listed in one
// statement, one snapshot: another process may create them all between two statements.
func schemaVersion(ctx context.Context, q queryer) (int, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return 0, err
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	rows.Close()
	if !slices.Contains(tables, "schema_version") {
		if len(tables) > 0 {
			return 0, fmt.Errorf("%w (it holds other tables: %s)", ErrForeignDatabase, strings.Join(tables, ", "))
		}
		return 0, nil
	}
	var v int
	err = q.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
