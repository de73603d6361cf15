// Package experiments is natssl's experiment tracker: one SQLite database holding every run, its
// flattened config, its metric curves, its checkpoints and its evaluations, so that a researcher
// can query, copy and compare them (natssl runs, natssl report, or the sqlite3 shell).
//
// The tables of docs/DESIGN.md are a contract:
//
//	runs(id, name, status, started_at, ended_at, heartbeat_at, config_yaml, seed, git_commit, host, command, error, archived_at, pid)
//	params(run_id, key, value)
//	metrics(run_id, key, step, value, at)
//	checkpoints(run_id, step, path, sha256, bytes, at)
//	evals(evaluation_id, run_id, checkpoint_step, suite, task, cluster, subcluster, metric, value, at)
//
// plus schema_version, tags, latest_metrics,
//
//	evaluations(id, run_id, checkpoint_step, checkpoint_path, suite, suite_path, suite_sha256, images_path, classifier, at)
//
// which keeps every evaluation (each evals row belongs to one by its evaluation_id), and
//
//	eval_outcomes(evaluation_id, run_id, checkpoint_step, suite, task, image_id, label, predicted)
//
// which keeps each test image's outcome behind a task's accuracy, so that a report can resample
// test images and pair two runs image by image, and
//
//	exports(run_id, path, format, sha256, bytes, checkpoint_step, checkpoint_sha256, image_size,
//	        with_head, params, mflops, natssl_version, at)
//
// which records the files natssl export wrote from a run's checkpoints (RecordExport), and
//
//	sweeps(id, name, created_at, config_yaml, spec, command)
//	sweep_trials(sweep_id, trial, config, seed)
//	sweep_values(sweep_id, trial, ord, key, value)
//
// which keep a sweep's base config, its design (spec: JSON written by package sweep) and each
// trial's swept values and seed; a trial's runs carry the tags sweep=<id> and trial=<n>.
// runs.archived_at marks a run archived: kept, but left out of listings. Times are stored as
// UTC text ("2006-01-02T15:04:05.000Z") so that the sqlite3 shell and its date functions read
// them. A NaN metric value is stored as NULL (SQLite has no NaN) and read back as NaN.
//
// The database runs in WAL mode with a busy timeout and foreign keys on, so that several
// processes (two runs, an evaluation, the sqlite3 shell) can use it at once. Schema migrations
// upgrade an older database in place when it is opened; a database written by a newer natssl is
// refused with ErrNewerSchema, and a file that is not a SQLite database with ErrNotDatabase,
// without touching either.
//
// A training loop talks to a *Run: LogMetrics buffers rows and writes them in batched
// transactions (so that logging never slows training), RecordCheckpoint commits them with a
// checkpoint's row (before the trainer makes the file visible), Heartbeat marks the run alive,
// and Finish ends it FINISHED, FAILED (with the error) or KILLED. A run records its host and
// process id, and DB.Live is the one rule for whether a process still writes it: RUNNING, its
// heartbeat younger than DB.StaleAfter and, on this host, its process alive (on another host
// a fresh heartbeat is taken as alive). A RUNNING run that is not live is shown as stale;
// ClaimRun reopens a run for a resume only when no other live process writes it, in one
// compare-and-set; a resume forgets the metrics logged after the checkpoint it continues from
// (Rewind), and a run taken up without one starts its record again (Restart).
//
// The database file is created readable by its owner alone. Beside it a small reserve file
// (<db>-reserve) is kept, so that on a full disk Finish can still free room to record the
// run's end rather than leave it RUNNING. Nothing stored keeps a URL's credentials
// (internal/redact), and what is read is masked again, for databases written before.
//
// Evaluations are stored one row per task; the per-cluster, per-subcluster and overall means
// are computed by EvalSummaries rather than stored, so they always agree with the rows. Every
// evaluation is kept: AddEvaluation records which checkpoint was scored, on which suite file
// (path and content hash) and with which classifier, and LatestPerClassifier and Headline pick
// what a listing shows. A task's accuracy and its per-image outcomes are stored in one
// transaction, and outcomes that do not give that accuracy are refused; an evaluation recorded
// before natssl kept outcomes simply has none, and readers must say so.
//
// Wherever a command takes a run, ResolveRun reads the reference: an id or a prefix of one, a
// run name (its latest run), NAME@K (its K-th), or latest; a reference that could name two
// runs is refused with the candidates listed. ResolveSweep reads a sweep id or a prefix of one.
//
// The trainer reaches a *Run through its own Tracker interface; the probe's results reach
// AddEvaluation through the orchestration package; natssl runs and package report read
// through the queries. The metric keys are named in package metric (experiments/metric),
// which the trainer can import without this package.
package experiments
