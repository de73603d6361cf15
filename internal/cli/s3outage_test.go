package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/internal/faultproxy"
	"github.com/natssl/natssl/sagemaker/mototest"
)

// trainLoss runs natssl train in this process and returns its final loss from --json.
func trainLoss(t *testing.T, args ...string) (float64, string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var res struct {
		Loss  float64 `json:"loss"`
		Steps int64   `json:"steps"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("train --json: %v: %q", err, stdout)
	}
	return res.Loss, stderr
}

// TestTrainS3OutageIsResumable: an S3 outage longer than data.s3.retry_for stops natssl train
// with exit 1, a checkpoint and the shard named (after logging its retries), and never skips
// data; resumed once the store is back, the run ends on the very loss of a run that met no
// outage.
func TestTrainS3OutageIsResumable(t *testing.T) {
	url := mototest.Start(t)
	mototest.SetEnv(t)
	mototest.AWS(t, url, "s3", "mb", "s3://outage")
	mototest.AWS(t, url, "s3", "cp", "--recursive", "--only-show-errors", "../../configs/smoke/train", "s3://outage/train/")
	proxy, err := faultproxy.Start(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	args := func(dir, endpoint string) []string {
		return smokeTrainArgs(dir, "--set", "data.source=s3://outage/train", "--set", "data.s3.endpoint="+endpoint,
			"--set", "data.s3.retry_for=2s", "--set", "train.steps=30", "--set", "train.checkpoint_every=10", "--set", "train.log_every=1")
	}
	want, _ := trainLoss(t, args(t.TempDir(), url)...)

	dir := t.TempDir()
	enc, _ := json.Marshal(args(dir, proxy.URL()))
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "GO_TEST_NATSSL_CHILD_ARGS="+string(enc))
	errPipe, err := child.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	lines := bufio.NewScanner(errPipe)
	var stderr []string
	for lines.Scan() {
		stderr = append(stderr, lines.Text())
		if strings.HasPrefix(lines.Text(), "step 5/") {
			proxy.Set(faultproxy.Reset)
		}
	}
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	var ee *exec.ExitError
	select {
	case err := <-done:
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit %v during the outage, want 1:\n%s", err, strings.Join(stderr, "\n"))
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("natssl train did not stop within a minute of the outage:\n%s", strings.Join(stderr, "\n"))
	}
	out := strings.Join(stderr, "\n")
	for _, w := range []string{"retrying for up to 2s", "storage unavailable", "s3://outage/train/", "resumable from"} {
		if !strings.Contains(out, w) {
			t.Errorf("stderr does not say %q:\n%s", w, out)
		}
	}
	if r := onlyRun(t, dir); r.Status != "FAILED" {
		t.Errorf("run is %s after the outage, want FAILED", r.Status)
	}

	proxy.Set(faultproxy.Pass)
	got, resumed := trainLoss(t, append(args(dir, proxy.URL()), "--resume", "auto")...)
	if !strings.Contains(resumed, "resuming run") {
		t.Errorf("the run was not resumed:\n%s", resumed)
	}
	if got != want {
		t.Errorf("final loss %v after the outage and a resume, %v without: want the same bits", got, want)
	}
	if r := onlyRun(t, dir); r.Status != "FINISHED" || r.Steps != 30 {
		t.Errorf("after the resume: %+v", r)
	}
}
