package experiments

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Export is a file natssl export wrote from one of a run's checkpoints: an encoder in a
// format other runtimes read.
type Export struct {
	Path   string
	Format string // onnx, safetensors
	SHA256 string // of the file, hex
	Bytes  int64
	// The checkpoint the file came from.
	CheckpointStep   int64
	CheckpointSHA256 string
	ImageSize        int  // the side of the image the exported model takes
	WithHead         bool // the projection head is in the file
	// The exported model's cost at ImageSize: learnable parameters and millions of floating
	// point operations per image (a multiply-add counted as two).
	Params  int64
	MFLOPs  float64
	Version string // of the natssl that wrote it
	At      time.Time
}

// RecordExport stores an export of run runID. Recording the same path for the run again
// replaces the row: the file holds the newer export.
func (db *DB) RecordExport(ctx context.Context, runID string, e Export) error {
	op := fmt.Sprintf("record export %s of run %s in", e.Path, runID)
	if e.Path == "" || e.Format == "" || e.SHA256 == "" {
		return fmt.Errorf("experiments: record export of run %s: path, format and sha256 must be set", runID)
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return db.wrap(op, err)
	}
	defer tx.Rollback()
	var exists int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE id = ?`, runID).Scan(&exists); err != nil {
		return db.wrap(op, err)
	}
	if exists == 0 {
		return fmt.Errorf("experiments: record export %s of run %s in %s: %w", e.Path, runID, db.path, ErrNotFound)
	}
	at := e.At
	if at.IsZero() {
		at = db.now()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO exports (run_id, path, format, sha256, bytes, checkpoint_step,
		checkpoint_sha256, image_size, with_head, params, mflops, natssl_version, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, path) DO UPDATE SET format = excluded.format, sha256 = excluded.sha256, bytes = excluded.bytes,
		checkpoint_step = excluded.checkpoint_step, checkpoint_sha256 = excluded.checkpoint_sha256,
		image_size = excluded.image_size, with_head = excluded.with_head, params = excluded.params,
		mflops = excluded.mflops, natssl_version = excluded.natssl_version, at = excluded.at`,
		runID, e.Path, e.Format, e.SHA256, e.Bytes, e.CheckpointStep, e.CheckpointSHA256, e.ImageSize, e.WithHead,
		e.Params, e.MFLOPs, e.Version, formatTime(at)); err != nil {
		return db.wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return db.wrap(op, err)
	}
	return nil
}

// Exports returns a run's recorded exports, oldest first.
func (db *DB) Exports(ctx context.Context, runID string) ([]Export, error) {
	op := "read exports of run " + runID + " in"
	rows, err := db.sql.QueryContext(ctx, `SELECT path, format, sha256, bytes, checkpoint_step, checkpoint_sha256,
		image_size, with_head, params, mflops, natssl_version, at FROM exports WHERE run_id = ? ORDER BY at, path`, runID)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	var out []Export
	for rows.Next() {
		var e Export
		var at sql.NullString
		if err := rows.Scan(&e.Path, &e.Format, &e.SHA256, &e.Bytes, &e.CheckpointStep, &e.CheckpointSHA256,
			&e.ImageSize, &e.WithHead, &e.Params, &e.MFLOPs, &e.Version, &at); err != nil {
			return nil, db.wrap(op, err)
		}
		e.At = parseTime(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}
