package cli

import (
	"context"

	"github.com/natssl/natssl/experiments"
)

// withTracker opens the existing tracker of --db or the config for fn, and closes it; a
// missing database is an error naming the path, never created by a command that only reads
// or edits records.
func (e *env) withTracker(ctx context.Context, fn func(*experiments.DB) error) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	db, err := experiments.OpenExisting(ctx, dbPath(e, cfg))
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

// resolveRuns turns run references (ids, prefixes, names, NAME@K, latest) into full ids, in
// order.
func resolveRuns(ctx context.Context, db *experiments.DB, refs []string) ([]string, error) {
	ids := make([]string, 0, len(refs))
	for _, ref := range refs {
		id, err := db.ResolveRun(ctx, ref)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
