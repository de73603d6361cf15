package cli

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCredentialsNeverStored: an S3 endpoint's user:password@ given on the command line reaches
// no file natssl writes (the tracker with its WAL, checkpoints) and no line it prints; the
// tracker is created readable by its owner alone.
func TestCredentialsNeverStored(t *testing.T) {
	const secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRET"
	endpoint := "http://AKIAEXAMPLE:" + secret + "@127.0.0.1:9"
	dir := t.TempDir()
	code, stdout, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "data.s3.endpoint="+endpoint, "--set", "train.steps=2")...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	printed := stdout + stderr
	db := filepath.Join(dir, "runs.db")
	for _, args := range [][]string{
		{"config", "print", "--set", "data.s3.endpoint=" + endpoint},
		{"config", "validate", "--set", "data.s3.anonymous=" + endpoint},
		{"runs", "tag", "latest", "bucket=" + endpoint, "--db", db},
		{"runs", "note", "latest", "copied to " + endpoint, "--db", db},
		{"runs", "show", "--db", db, "--json", "latest"},
		{"runs", "show", "--db", db, "latest"},
		{"runs", "list", "--db", db, "--json"},
		{"runs", "metrics", "latest", "--csv", "--db", db},
		{"export", "--run", "latest", "--format", "safetensors", "--db", db, "--set", "run.out_dir=" + filepath.Join(dir, "runs")},
		{"report", "latest", "--out", filepath.Join(dir, "report"), "--db", db},
		// A sweep stores its config to run its trials from: one with credentials is refused.
		{"sweep", "--dry-run", "--param", "model.width=8,16", "--db", db, "--set", "data.s3.endpoint=" + endpoint},
	} {
		code, out, errs := runCLI(t, args...)
		printed += out + errs
		if args[0] == "sweep" && (code != 2 || !strings.Contains(errs, "carries credentials")) {
			t.Errorf("sweep with credentials in its config: exit %d, %q; want 2, refused", code, errs)
		}
	}
	if strings.Contains(printed, secret) {
		t.Errorf("the secret was printed:\n%s", printed)
	}
	if !strings.Contains(printed, "http://xxxxx@127.0.0.1:9") {
		t.Errorf("config print does not show the endpoint masked:\n%s", printed)
	}
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 4 { // the tracker, a checkpoint, an export, a report
		t.Fatalf("only %d files written under %s", files, dir)
	}
	st, err := os.Stat(filepath.Join(dir, "runs.db"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("runs.db has mode %v, want 0600", perm)
	}
}

// TestCredentialsOfOldDatabasesMasked: a tracker that an older natssl wrote with credentials
// in a run's command, error, config and params shows them masked wherever natssl prints them.
func TestCredentialsOfOldDatabasesMasked(t *testing.T) {
	const secret = "oldSECRETvalue"
	endpoint := "http://AKIAEXAMPLE:" + secret + "@127.0.0.1:9"
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "train.steps=1")...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	db := filepath.Join(dir, "runs.db")
	q := fmt.Sprintf(`UPDATE runs SET command = 'natssl train --set data.s3.endpoint=%[1]s', error = 'get %[1]s/x: refused',
		config_yaml = config_yaml || '# endpoint: %[1]s'; UPDATE params SET value = '%[1]s' WHERE key = 'data.s3.endpoint';`, endpoint)
	if out, err := exec.Command("sqlite3", db, q).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	var printed string
	for _, args := range [][]string{
		{"runs", "show", "--db", db, "--json", "latest"},
		{"runs", "show", "--db", db, "latest"},
		{"runs", "list", "--db", db, "--json"},
		{"report", "latest", "--out", filepath.Join(dir, "report"), "--db", db, "--full"},
	} {
		code, out, errs := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		printed += out + errs
	}
	if report, err := os.ReadFile(filepath.Join(dir, "report", "report.md")); err == nil {
		printed += string(report)
	}
	if strings.Contains(printed, secret) {
		t.Errorf("the secret of an old database was printed:\n%s", printed)
	}
	if !strings.Contains(printed, "http://xxxxx@127.0.0.1:9") {
		t.Errorf("the masked endpoint is not shown:\n%s", printed)
	}
}
