package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natssl/natssl/internal/faultproxy"
	"github.com/natssl/natssl/sagemaker/mototest"
)

const smokeTrain = "../../configs/smoke/train"

func TestDataShardFlags(t *testing.T) {
	out := t.TempDir()
	fifo := filepath.Join(t.TempDir(), "photos.tar")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"no --from", []string{"--out", out}, 2, "--from SOURCE and --out"},
		{"both sizes", []string{"--from", smokeTrain, "--out", out, "--shards", "2", "--shard-size", "1MB"}, 2, "not both"},
		{"a size that is none", []string{"--from", smokeTrain, "--out", out, "--shard-size", "big"}, 2, `--shard-size "big"`},
		{"no jobs", []string{"--from", smokeTrain, "--out", out, "--jobs", "0"}, 2, "--jobs >= 1"},
		{"no such source", []string{"--from", filepath.Join(out, "nope"), "--out", out}, 1, "does not exist"},
		{"a named pipe as the source", []string{"--from", fifo, "--out", out}, 1, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"data", "shard"}, c.args...)...)
			if code != c.code || !strings.Contains(stderr, c.contains) {
				t.Errorf("exit %d, stderr %q; want %d and %q (stdout %q)", code, stderr, c.code, c.contains, stdout)
			}
		})
	}
}

// TestDataShardThenTrain: a folder of real images, repacked, is what natssl train reads
// through the manifest alone, with two replicas each reading its own shards.
func TestDataShardThenTrain(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "set")
	code, stdout, stderr := runCLI(t, "data", "shard", "--from", smokeTrain, "--out", out, "--shards", "4", "--jobs", "2", "--json")
	if code != 0 {
		t.Fatalf("data shard: exit %d: %s", code, stderr)
	}
	var sum struct {
		Manifest string
		Shards   int
		Images   int
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Shards != 4 || sum.Images != 56 {
		t.Fatalf("summary %+v (%v) from %q", sum, err, stdout)
	}
	args := smokeTrainArgs(dir, "--set", "data.source="+sum.Manifest, "--set", "data.root=", "--set", "train.steps=3",
		"--set", "train.devices=[cpu,cpu]", "--set", "data.batch_size=16", "--json")
	code, stdout, stderr = runCLI(t, args...)
	if code != 0 || !strings.Contains(stdout, `"steps":3`) {
		t.Fatalf("train on the shards: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
}

// TestDataShardKilledAndResumed: natssl data shard killed with SIGKILL while its source
// still streams in leaves its finished shards; the same command again keeps them and ends
// with the files of a run never interrupted. The source is a tar archive on S3 (moto_server)
// behind a fault proxy that lets 60% of each answer through and then holds the connection
// silent, so that the child has written some shards and waits for the rest.
func TestDataShardKilledAndResumed(t *testing.T) {
	dir := t.TempDir()
	abs, _ := filepath.Abs(smokeTrain)
	whole := filepath.Join(dir, "whole.tar")
	if out, err := exec.Command("tar", "-cf", whole, "-C", filepath.Dir(abs), filepath.Base(abs)).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	st, err := os.Stat(whole)
	if err != nil {
		t.Fatal(err)
	}
	url := mototest.Start(t)
	mototest.SetEnv(t)
	mototest.AWS(t, url, "s3", "mb", "s3://shardsrc")
	mototest.AWS(t, url, "s3", "cp", "--only-show-errors", whole, "s3://shardsrc/photos.tar")
	proxy, err := faultproxy.Start(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.SetCutAfter(st.Size() * 6 / 10)
	proxy.Set(faultproxy.Hold)

	out := filepath.Join(dir, "set")
	args := []string{"data", "shard", "--from", "s3://shardsrc/photos.tar", "--out", out, "--shard-size", "8KB", "--jobs", "1",
		"--set", "data.s3.endpoint=" + proxy.URL(), "--set", "data.s3.concurrency=1"}
	enc, _ := json.Marshal(args)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "GO_TEST_NATSSL_CHILD_ARGS="+string(enc))
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	journal := filepath.Join(out, ".natssl-shard")
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, _ := filepath.Glob(filepath.Join(journal, "train-*.json"))
		if len(entries) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child finished %d shards in 30 s", len(entries))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	if _, err := os.Stat(filepath.Join(out, "train.json")); err == nil {
		t.Fatal("the killed run wrote a manifest")
	}

	// The same command again, the store answering in full.
	proxy.Set(faultproxy.Pass)
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 || !strings.Contains(stdout, "finished by an earlier run and kept") {
		t.Fatalf("resume: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	fresh := filepath.Join(dir, "fresh")
	args[5] = fresh
	if code, _, stderr := runCLI(t, args...); code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", code, stderr)
	}
	got, want := dirSums(t, out), dirSums(t, fresh)
	if len(want) < 5 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("resumed set:\n%s\nuninterrupted:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// dirSums lists a folder's entries with their SHA-256, sorted by name.
func dirSums(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		h := sha256.Sum256(b)
		out = append(out, e.Name()+" "+hex.EncodeToString(h[:]))
	}
	return out
}
