package cli

import (
	"bytes"
	"io/fs"
	"os"
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
	for _, args := range [][]string{
		{"config", "print", "--set", "data.s3.endpoint=" + endpoint},
		{"config", "validate", "--set", "data.s3.anonymous=" + endpoint},
		{"runs", "show", "--db", filepath.Join(dir, "runs.db"), "--json", "latest"},
	} {
		_, out, errs := runCLI(t, args...)
		printed += out + errs
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
	if files < 2 { // the tracker and a checkpoint
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
