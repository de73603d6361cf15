package experiments

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/natssl/natssl/internal/redact"
)

// TagNote is the tag a run's note is kept under (natssl runs note).
const TagNote = "note"

// SetTags sets tags on run id (a full id), replacing earlier values, and removes the tags
// named in remove, in one transaction. The credentials of URLs in values are masked.
func (db *DB) SetTags(ctx context.Context, id string, set map[string]string, remove []string) error {
	op := "tag run " + id + " in"
	return db.inTx(ctx, op, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, db, id); err != nil {
			return err
		}
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "" {
				return fmt.Errorf("experiments: %s %s: a tag needs a key", op, db.path)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)
				ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value`, id, k, redact.String(set[k])); err != nil {
				return err
			}
		}
		for _, k := range remove {
			if _, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE run_id = ? AND key = ?`, id, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetArchived archives run id (a full id), or brings it back when archived is false. An
// archived run keeps everything; listings, reports of all runs and "latest" leave it out.
func (db *DB) SetArchived(ctx context.Context, id string, archived bool) error {
	var at any
	if archived {
		at = formatTime(db.now())
	}
	return db.inTx(ctx, "archive run "+id+" in", func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, db, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE runs SET archived_at = ? WHERE id = ?`, at, id)
		return err
	})
}

// DeleteRun removes run id (a full id) and everything recorded about it: params, metrics,
// tags, checkpoint records and evaluations. Files are not touched; it returns the checkpoint
// records the run had, for a caller that removes the files too.
func (db *DB) DeleteRun(ctx context.Context, id string) ([]Checkpoint, error) {
	cks, err := db.Checkpoints(ctx, id)
	if err != nil {
		return nil, err
	}
	err = db.inTx(ctx, "delete run "+id+" in", func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, db, id); err != nil {
			return err
		}
		// Foreign keys cascade from runs to every other table.
		_, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return cks, nil
}

// mustExist fails with ErrNotFound when run id is not in the database.
func mustExist(ctx context.Context, tx *sql.Tx, db *DB, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("experiments: run %s in %s: %w", id, db.path, ErrNotFound)
	}
	return nil
}
