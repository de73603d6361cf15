package experiments

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Latest is the run reference that names the most recently started run.
const Latest = "latest"

// numbered is a reference to the K-th run of a name: NAME@K.
var numbered = regexp.MustCompile(`^(.+)@([0-9]+)$`)

// hexPrefix is what a run id prefix can look like.
var hexPrefix = regexp.MustCompile(`^[0-9a-f]+$`)

// ResolveRun turns a reference to a run into its full id. A reference is, as everywhere a
// command takes a run:
//
//   - "latest": the run started last (archived runs left out);
//   - a run name: its latest run (archived runs left out, unless all of the name are);
//   - NAME@K: the K-th run of that name, counting from 1 in the order they started (archived
//     runs counted);
//   - a run id, or a prefix of one (as with git).
//
// A reference that names two different runs (a name that is also the prefix of another run's
// id, a prefix of several ids) is refused with ErrAmbiguous, listing the candidates; one that
// names none with ErrNotFound.
func (db *DB) ResolveRun(ctx context.Context, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", fmt.Errorf("experiments: resolve run: empty run id")
	}
	fail := func(err error) (string, error) { return "", db.wrap("resolve run "+ref+" in", err) }
	if ref == Latest {
		runs, err := db.candidates(ctx, `archived_at IS NULL ORDER BY started_at DESC, id DESC LIMIT 1`)
		if err != nil {
			return fail(err)
		}
		if len(runs) == 0 {
			return "", fmt.Errorf("experiments: run %q in %s: %w: the tracker has no runs", ref, db.path, ErrNotFound)
		}
		return runs[0].id, nil
	}
	if m := numbered.FindStringSubmatch(ref); m != nil {
		k, err := strconv.Atoi(m[2])
		if err != nil || k < 1 {
			return "", fmt.Errorf("experiments: run %q in %s: %w: runs of a name count from @1", ref, db.path, ErrNotFound)
		}
		runs, err := db.candidates(ctx, `name = ? ORDER BY started_at, id`, m[1])
		if err != nil {
			return fail(err)
		}
		if k > len(runs) {
			return "", fmt.Errorf("experiments: run %q in %s: %w: %q has %d run(s)", ref, db.path, ErrNotFound, m[1], len(runs))
		}
		return runs[k-1].id, nil
	}

	byName, err := db.candidates(ctx, `name = ? ORDER BY archived_at IS NULL, started_at, id`, ref)
	if err != nil {
		return fail(err)
	}
	var named *candidate
	if len(byName) > 0 {
		named = &byName[len(byName)-1] // the latest, not archived when one is not
	}
	byID, exact, err := db.prefixMatches(ctx, "runs", ref)
	switch {
	case err != nil:
		return fail(err)
	case exact != "":
		return exact, nil // a full id is never ambiguous
	case named == nil && len(byID) == 0:
		return "", fmt.Errorf("experiments: run %q in %s: %w (give a run id or a prefix of one, a run name, NAME@K, or latest)",
			ref, db.path, ErrNotFound)
	case named == nil && len(byID) == 1:
		return byID[0].id, nil
	case named != nil && (len(byID) == 0 || len(byID) == 1 && byID[0].id == named.id):
		return named.id, nil
	}
	var first []string
	if named != nil {
		first = append(first, fmt.Sprintf("the latest run named %q: %s", ref, named))
	}
	return "", db.ambiguous("run", ref, first, byID)
}

// resolveID turns an id or an unambiguous prefix of one into the full id of a row of table
// (sweeps; runs go through ResolveRun, which adds names): what names the row in messages, and
// notFound is the error when none matches.
func (db *DB) resolveID(ctx context.Context, table, what, ref string, notFound error) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", fmt.Errorf("experiments: resolve %s: empty %s id", what, what)
	}
	byID, exact, err := db.prefixMatches(ctx, table, ref)
	switch {
	case err != nil:
		return "", db.wrap("resolve "+what+" "+ref+" in", err)
	case exact != "":
		return exact, nil
	case len(byID) == 0:
		return "", fmt.Errorf("experiments: %s %q in %s: %w", what, ref, db.path, notFound)
	case len(byID) == 1:
		return byID[0].id, nil
	}
	return "", db.ambiguous(what, ref, nil, byID)
}

// prefixMatches returns the rows of table (runs, sweeps) whose id starts with ref, oldest
// first, at most six; exact is ref itself when it is a full id among them. A ref that cannot
// be the start of an id (not lower-case hex once folded) matches nothing.
func (db *DB) prefixMatches(ctx context.Context, table, ref string) (matches []candidate, exact string, err error) {
	p := strings.ToLower(ref)
	if !hexPrefix.MatchString(p) {
		return nil, "", nil
	}
	started := map[string]string{"runs": "started_at", "sweeps": "created_at"}[table]
	rows, err := db.sql.QueryContext(ctx, `SELECT id, name, `+started+` FROM `+table+`
		WHERE substr(id, 1, ?) = ? ORDER BY `+started+`, id LIMIT 6`, len(p), p)
	if err != nil {
		return nil, "", err
	}
	if matches, err = scanCandidates(rows); err != nil {
		return nil, "", err
	}
	for _, c := range matches {
		if c.id == p {
			return matches, c.id, nil
		}
	}
	return matches, "", nil
}

// ambiguous is the error of a reference that names more than one row: the candidates one a
// line (first, then up to five ids), and how to choose.
func (db *DB) ambiguous(what, ref string, first []string, byID []candidate) error {
	lines := first
	for i, c := range byID {
		if i == 5 {
			lines = append(lines, "...")
			break
		}
		lines = append(lines, "id "+c.String())
	}
	return fmt.Errorf("experiments: %s %q in %s: %w: it could be\n  %s\ngive more of the id", what, ref, db.path, ErrAmbiguous,
		strings.Join(lines, "\n  "))
}

// candidate is a run (or sweep) a reference may name.
type candidate struct {
	id, name, started string
}

func (c candidate) String() string {
	name := c.name
	if name == "" {
		name = "(no name)"
	}
	return fmt.Sprintf("%s  %s  started %s", c.id, name, strings.Replace(strings.TrimSuffix(c.started, "Z"), "T", " ", 1))
}

// candidates returns the runs of a WHERE clause (and its ORDER BY).
func (db *DB) candidates(ctx context.Context, where string, args ...any) ([]candidate, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, name, started_at FROM runs WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	return scanCandidates(rows)
}

// scanCandidates reads rows of (id, name, started) and closes them.
func scanCandidates(rows *sql.Rows) ([]candidate, error) {
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.id, &c.name, &c.started); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
