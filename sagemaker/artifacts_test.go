package sagemaker

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
)

func TestWriteFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "one line", err: errors.New("trainer: step 12: loss is NaN"), want: "trainer: step 12: loss is NaN\n"},
		{name: "config errors joined into one paragraph",
			err:  errors.New("config: hp.json (hyperparameter \"train.lr\"): train.lr = \"fast\": want a number\nconfig: hp.json: trian.steps: unknown key  (did you mean train.steps?)\n"),
			want: "config: hp.json (hyperparameter \"train.lr\"): train.lr = \"fast\": want a number; config: hp.json: trian.steps: unknown key (did you mean train.steps?)\n"},
		{name: "long messages are bounded", err: errors.New(strings.Repeat("x", 3*maxFailure)), want: strings.Repeat("x", maxFailure) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &Job{Base: t.TempDir()}
			if err := j.WriteFailure(tt.err); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(j.Base, "output", "failure"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("failure file = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteFailureUnwritable(t *testing.T) {
	j := &Job{Base: filepath.Join(t.TempDir(), "file")}
	if err := os.WriteFile(j.Base, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := j.WriteFailure(errors.New("x")); err == nil {
		t.Fatal("WriteFailure under a regular file succeeded")
	}
}

// openWAL opens a real tracker-like database in WAL mode with automatic checkpoints off, so
// that what it commits stays in the -wal file, where a raw file copy would miss it.
func openWAL(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		"PRAGMA wal_autocheckpoint=0",
		"CREATE TABLE metrics(run_id TEXT, key TEXT, step INTEGER, value REAL)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	return db
}

func TestExportModel(t *testing.T) {
	ctx := context.Background()
	j := &Job{Base: t.TempDir()}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "natssl.db")
	db := openWAL(t, dbPath)
	for step := range 500 {
		if _, err := db.Exec("INSERT INTO metrics VALUES ('r1', 'loss', ?, ?)", step, 1/float64(step+1)); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(dbPath + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the test needs rows still in the WAL: %v", err)
	}
	ckpt := filepath.Join(dir, "step-000006.ckpt")
	if err := os.WriteFile(ckpt, []byte("checkpoint bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(configs.Sources{Env: []string{}, Sets: []string{"train.lr=0.25"}})
	if err != nil {
		t.Fatal(err)
	}

	// The writer is still open: the copy must see every committed row all the same.
	if err := j.ExportModel(ctx, cfg, ckpt, dbPath); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(j.ModelDir(), ModelCheckpoint))
	if err != nil || string(got) != "checkpoint bytes" {
		t.Errorf("model checkpoint = %q, %v", got, err)
	}
	y, err := os.ReadFile(filepath.Join(j.ModelDir(), ModelConfig))
	if err != nil {
		t.Fatal(err)
	}
	back, err := configs.Load(configs.Sources{Env: []string{}, File: filepath.Join(j.ModelDir(), ModelConfig)})
	if err != nil {
		t.Fatalf("the exported config does not load: %v\n%s", err, y)
	}
	if back.Train.LR != 0.25 {
		t.Errorf("exported train.lr = %v, want 0.25", back.Train.LR)
	}
	copyDB := openCopy(t, filepath.Join(j.ModelDir(), ModelDB))
	var n int
	var ok string
	if err := copyDB.QueryRow("SELECT count(*) FROM metrics").Scan(&n); err != nil || n != 500 {
		t.Errorf("copied database has %d rows (%v), want 500", n, err)
	}
	if err := copyDB.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check = %q, %v", ok, err)
	}
	if _, err := os.Stat(filepath.Join(j.ModelDir(), ModelDB+"-wal")); err == nil {
		t.Errorf("the copy has a -wal file: it should be one self-contained file")
	}

	// A second export (a resumed job that finishes) replaces the artefacts.
	if _, err := db.Exec("INSERT INTO metrics VALUES ('r1', 'loss', 500, 0)"); err != nil {
		t.Fatal(err)
	}
	if err := j.ExportModel(ctx, cfg, ckpt, dbPath); err != nil {
		t.Fatal(err)
	}
	copyDB = openCopy(t, filepath.Join(j.ModelDir(), ModelDB)) // the export replaced the file
	if err := copyDB.QueryRow("SELECT count(*) FROM metrics").Scan(&n); err != nil || n != 501 {
		t.Errorf("re-exported database has %d rows (%v), want 501", n, err)
	}
	// "*" matches hidden names too: no temporary file is left.
	if got, _ := fs.Glob(os.DirFS(j.ModelDir()), "*"); !slices.Equal(got, []string{ModelConfig, ModelCheckpoint, ModelDB}) {
		t.Errorf("model folder holds %v, want the three artefacts only", got)
	}
}

func openCopy(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestBackupDBErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, src, err string }{
		{"missing", filepath.Join(dir, "missing.db"), "no such file"},
		{"not a database", notDB, "not a database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(dir, tt.name+".copy")
			err := BackupDB(context.Background(), tt.src, dst)
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.src) {
				t.Fatalf("err = %v, want %q naming %s", err, tt.err, tt.src)
			}
			if got, _ := fs.Glob(os.DirFS(dir), "*"); !slices.Equal(got, []string{"not.db"}) {
				t.Errorf("a failed backup left %v beside the source", got)
			}
		})
	}
}

func TestCheckDBAndMoveAside(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	db := openWAL(t, good)
	if _, err := db.Exec("INSERT INTO metrics VALUES ('r', 'loss', 1, 1)"); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, "torn.db")
	if err := os.WriteFile(torn, []byte(strings.Repeat("\x00garbage", 1024)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		bad        bool
	}{
		{"missing is fine", filepath.Join(dir, "none.db"), false},
		{"a live WAL database", good, false},
		{"torn", torn, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDB(context.Background(), tt.path)
			if (err != nil) != tt.bad || (err != nil && !strings.Contains(err.Error(), tt.path)) {
				t.Fatalf("CheckDB(%s) = %v, want bad %v", tt.path, err, tt.bad)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("CheckDB created a missing database")
	}
	aside, err := MoveAside(torn, "corrupt-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(torn); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there: %v", torn, err)
	}
	if b, err := os.ReadFile(aside); err != nil || !strings.HasPrefix(string(b), "\x00garbage") {
		t.Errorf("moved copy: %v", err)
	}
}
