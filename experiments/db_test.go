package experiments

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments/metric"
)

func TestOpenRefusesBadFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := append([]byte("SQLite format 3\x00"), bytes.Repeat([]byte{0xA5}, 8192)...)

	// A database of a newer schema, and one that belongs to another program.
	newer := filepath.Join(dir, "newer.db")
	db, err := Open(ctx, newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.sql.Exec(`UPDATE schema_version SET version = ?`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	foreign := filepath.Join(dir, "foreign.db")
	if _, err := rawOpen(t, foreign).Exec(`CREATE TABLE photos (id INTEGER PRIMARY KEY); INSERT INTO photos VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.db"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		path    string
		is      error  // errors.Is target, when there is one
		mention string // the message must say this
	}{
		{"text file", write("notes.txt", []byte("loss went down\n")), ErrNotDatabase, "not a SQLite database"},
		{"short file", write("short.db", []byte("SQLite")), ErrNotDatabase, "not a SQLite database"},
		{"corrupt database", write("corrupt.db", garbage), ErrNotDatabase, "not a SQLite database"},
		{"newer schema", newer, ErrNewerSchema, fmt.Sprintf("version %d, this natssl writes %d", SchemaVersion+1, SchemaVersion)},
		{"foreign database", foreign, ErrForeignDatabase, "photos"},
		{"directory", filepath.Join(dir, "adir"), nil, "is a directory"},
		{"FIFO", filepath.Join(dir, "fifo.db"), nil, "not a regular file (a named pipe)"},
		{"device", "/dev/zero", nil, "not a regular file (a character device)"},
		{"parent is a file", filepath.Join(write("plain", []byte("x")), "run.db"), nil, "not a directory"},
		{"unwritable place", "/proc/natssl-test/run.db", nil, "/proc/natssl-test/run.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := readRegular(tt.path)
			db, err := Open(ctx, tt.path)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%s) succeeded", tt.path)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v, want %v", err, tt.is)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.mention) || !strings.Contains(msg, tt.path) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s and saying %q", msg, tt.path, tt.mention)
			}
			after := readRegular(tt.path)
			if !bytes.Equal(before, after) {
				t.Errorf("%s was modified", tt.path)
			}
			for _, suffix := range []string{"-wal", "-journal"} {
				if _, err := os.Stat(tt.path + suffix); err == nil && tt.is != ErrNewerSchema {
					t.Errorf("%s%s left behind", tt.path, suffix)
				}
			}
		})
	}
}

func TestOpenExisting(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "none", "run.db")
	_, err := OpenExisting(ctx, missing)
	if !errors.Is(err, ErrNoDatabase) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("OpenExisting(missing) = %v, want ErrNoDatabase naming the path", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenExisting created %s", filepath.Dir(missing))
	}
	db := openTemp(t)
	path := db.Path()
	db.Close()
	db, err = OpenExisting(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func TestMigrateFromSchema1(t *testing.T) {
	ctx := context.Background()
	fixture, err := os.ReadFile("testdata/schema-v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v1.db")
	if _, err := rawOpen(t, path).Exec(string(fixture)); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.sql.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema version %d (%v), want %d", v, err, SchemaVersion)
	}
	id, err := db.ResolveRun(ctx, "5f1c")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := db.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Name != "old-run" || rec.Status != StatusFinished || rec.Error != "" || rec.Duration() != time.Hour {
		t.Errorf("run after migration: %+v", rec.RunInfo)
	}
	if rec.Steps != 3 || rec.Latest[metric.Loss].Value != 3.5 || rec.Latest[metric.ImagesPerS].Step != 2 {
		t.Errorf("latest metrics not backfilled: steps %d latest %+v", rec.Steps, rec.Latest)
	}
	if rec.NeWT == nil || rec.NeWT.Mean != 0.5 || rec.NeWT.Tasks != 2 {
		t.Errorf("NeWT %+v, want mean 0.5 over 2 tasks", rec.NeWT)
	}
	// An evaluation from before per-image outcomes were kept has none, and says so by that.
	if o, err := db.Outcomes(ctx, id, rec.NeWT.CheckpointStep, SuiteNeWT); err != nil || len(o) != 0 {
		t.Errorf("outcomes of an old evaluation: %v, %v; want none", o, err)
	}
	if len(rec.Checkpoints) != 1 || len(rec.Params) != 1 {
		t.Errorf("checkpoints %v params %v", rec.Checkpoints, rec.Params)
	}
	// The upgraded database takes new writes, and opening it again migrates nothing.
	r, err := db.ReopenRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(ctx, StatusFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	// The tables of the later migrations (exports, then sweeps) are there.
	if ex, err := db.Exports(ctx, id); err != nil || len(ex) != 0 {
		t.Errorf("exports after migration: %v, %v", ex, err)
	}
	if _, err := db.CreateSweep(ctx, Sweep{Name: "after-upgrade", Trials: []SweepTrial{{N: 1, Config: 1, Seed: 1}}}); err != nil {
		t.Errorf("a sweep in the upgraded database: %v", err)
	}
	db2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db2.Close()
}

func TestOpenConfiguresSQLite(t *testing.T) {
	db := openTemp(t)
	tests := []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "30000"},
	}
	for _, tt := range tests {
		var got string
		if err := db.sql.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
	// Foreign keys hold: no metrics for a run that does not exist.
	if _, err := db.sql.Exec(`INSERT INTO metrics (run_id, key, step, value, at) VALUES ('nope', 'loss', 1, 1, 'x')`); err == nil {
		t.Error("metrics row for a missing run accepted")
	}
}

func TestOpenOddPaths(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"with space.db", "hash#and?query.db", "percent%41.db", "ünïcode.db", "mode=ro.db"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			db, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.CreateRun(ctx, RunSpec{Name: "x"}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			// The database is the file of that exact name, and nothing else was created but
			// the reserve beside it.
			entries, _ := os.ReadDir(dir)
			if len(entries) != 2 || entries[0].Name() != name || entries[1].Name() != name+"-reserve" {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Fatalf("files %q, want only %q", names, name)
			}
			db, err = OpenExisting(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if runs, err := db.ListRuns(ctx, ListOptions{}); err != nil || len(runs) != 1 {
				t.Fatalf("runs %v, %v", runs, err)
			}
		})
	}
}

// readRegular reads path when it is a regular file (a FIFO or a device is not read).
func readRegular(path string) []byte {
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	b, _ := os.ReadFile(path)
	return b
}
