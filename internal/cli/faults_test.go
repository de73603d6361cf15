package cli

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
)

// drain reads the rest of a child's stderr so that it never blocks on a full pipe.
func drain(lines interface{ Scan() bool }) {
	go func() {
		for lines.Scan() {
		}
	}()
}

// onlyRun returns the tracker's one run.
func onlyRun(t *testing.T, dir string) *experiments.RunInfo {
	t.Helper()
	runs, err := openTracker(t, dir).ListRuns(context.Background(), experiments.ListOptions{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v, %v; want one", runs, err)
	}
	return runs[0]
}

// TestResumeRefusesALiveRun: --resume auto does not join a run that another process is
// training (it names the host and the process); once that process is killed, the same
// command takes the run over at once, without waiting for its heartbeat to go stale.
func TestResumeRefusesALiveRun(t *testing.T) {
	dir := t.TempDir()
	child, lines, _ := startTrainChild(t, dir, "--set", "train.checkpoint_every=1")
	for lines.Scan() && !strings.Contains(lines.Text(), "checkpoint: step") {
	}
	drain(lines)
	host, _ := os.Hostname()
	resume := smokeTrainArgs(dir, "--resume", "auto", "--set", "train.steps=100000", "--set", "train.log_every=1", "--set", "train.time_limit=1ns")
	code, _, stderr := runCLI(t, resume...)
	if want := fmt.Sprintf("RUNNING in process %d on host %s", child.Process.Pid, host); code != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("resume of a live run: exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
	id := onlyRun(t, dir).ID
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	if code, _, stderr := runCLI(t, resume...); code != 0 || !strings.Contains(stderr, "resuming run "+id) {
		t.Fatalf("resume after the kill: exit %d: %s", code, stderr)
	}
	if r := onlyRun(t, dir); r.ID != id || r.Status != experiments.StatusFinished {
		t.Errorf("after the takeover: %+v", r)
	}
}

// TestResumeTakesUpARunKilledBeforeItsFirstCheckpoint: a run killed before its first
// checkpoint is left RUNNING; --resume auto takes it up from step 0 under its id (with the new
// config), instead of leaving it behind and starting another.
func TestResumeTakesUpARunKilledBeforeItsFirstCheckpoint(t *testing.T) {
	dir := t.TempDir()
	child, lines, _ := startTrainChild(t, dir) // no checkpoint before the end
	drain(lines)
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	before := onlyRun(t, dir)
	if before.Status != experiments.StatusRunning {
		t.Fatalf("killed run: %+v", before)
	}
	code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--resume", "auto", "--set", "train.steps=3")...)
	if code != 0 || !strings.Contains(stderr, "taking up run "+before.ID) {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := onlyRun(t, dir)
	if r.ID != before.ID || r.Status != experiments.StatusFinished || r.Steps != 3 {
		t.Errorf("after taking it up: %+v, want run %s FINISHED at step 3", r, before.ID)
	}
	rec, err := openTracker(t, dir).GetRun(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range rec.Params {
		if kv.Key == "train.steps" && kv.Value != "3" {
			t.Errorf("params keep train.steps = %q, want the config it was taken up with", kv.Value)
		}
	}
}

// TestPrunedCheckpointsForgotten: the tracker records exactly the checkpoint files that are
// kept.
func TestPrunedCheckpointsForgotten(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "train.checkpoint_every=1", "--set", "train.keep_checkpoints=2")...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := onlyRun(t, dir)
	cks, err := openTracker(t, dir).Checkpoints(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "runs", r.ID, "checkpoints", "*"))
	if len(cks) != 2 || len(files) != 2 || cks[0].Path != files[0] || cks[1].Path != files[1] {
		t.Errorf("recorded %+v, files %v: want the two kept", cks, files)
	}
}

// TestFullDisk: a run whose disk fills up (tracker and checkpoints on a 3 MB tmpfs) fails with
// one line, is recorded FAILED (not left RUNNING), leaves no temporary file, and its tracker
// holds every step up to its last checkpoint.
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { // after the tracker is closed (cleanups run last first)
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "train.steps=400", "--set", "train.checkpoint_every=2",
		"--set", "train.keep_checkpoints=1000", "--set", "model.width=12", "--set", "train.time_limit=0")...)
	if code != 1 || strings.Count(strings.TrimSpace(lastError(stderr)), "\n") != 0 || !strings.Contains(stderr, "no space left on device") && !strings.Contains(stderr, "disk is full") {
		t.Fatalf("exit %d, stderr %q; want 1 and one line saying the disk is full", code, stderr)
	}
	r := onlyRun(t, dir)
	if r.Status != experiments.StatusFailed {
		t.Errorf("run %s is %s after the disk filled, want FAILED", r.ID, r.Status)
	}
	db := openTracker(t, dir)
	cks, _ := db.Checkpoints(context.Background(), r.ID)
	if len(cks) == 0 {
		t.Fatal("no checkpoint recorded before the disk filled")
	}
	last := cks[len(cks)-1]
	loss, err := db.MetricSeries(context.Background(), r.ID, "loss")
	if err != nil || int64(len(loss)) < last.Step || loss[last.Step-1].Step != last.Step {
		t.Errorf("loss logged at %d steps (%v); want every step up to the last checkpoint, %d", len(loss), err, last.Step)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".step-") {
			t.Errorf("temporary file left: %s", p)
		}
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".ckpt") {
			found := false
			for _, c := range cks {
				found = found || c.Path == p
			}
			if !found {
				t.Errorf("checkpoint %s is not recorded", p)
			}
		}
		return nil
	})
}

// lastError is the line natssl printed its error on.
func lastError(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "natssl: train:") || strings.HasPrefix(lines[i], "natssl: trainer") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return stderr
}

// TestMemoryRefusedBeforeTheRun: a batch far beyond the machine's memory is refused before
// the run is recorded, with the estimate and the machine's memory, exit 2.
func TestMemoryRefusedBeforeTheRun(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "data.batch_size=65536", "--set", "data.image_size=512")...)
	if code != 2 || !strings.Contains(stderr, "more than this machine's") {
		t.Fatalf("exit %d, stderr %q; want 2 and the memory refusal", code, stderr)
	}
	runs, err := openTracker(t, dir).ListRuns(context.Background(), experiments.ListOptions{})
	if err != nil || len(runs) != 0 {
		t.Errorf("runs %+v, %v: a refused config must record no run", runs, err)
	}
}

// TestTrainNamesSkippedFiles: natssl train names the first skipped files of each reason in its
// log, and says where the others are counted.
func TestTrainNamesSkippedFiles(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "train")
	if out, err := exec.Command("cp", "-r", "../../configs/smoke/train", data).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	cls, _ := filepath.Glob(filepath.Join(data, "*"))
	for i := range 5 {
		if err := os.WriteFile(filepath.Join(cls[0], fmt.Sprintf("zero-%d.jpg", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cls[1], "notes.jpg"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "data.source="+data, "--set", "train.steps=8")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"skipped " + filepath.Base(cls[1]) + "/notes.jpg", ": not_image", "zero-", ": empty",
		"further empty samples are counted in the metric skipped_empty"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the log does not say %q:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, ": empty"); n != 3 {
		t.Errorf("%d empty files named, want the first 3", n)
	}
}

// TestResumeForgetsStepsPastTheCheckpoint: a run that logged steps past its last checkpoint
// (as one killed between two checkpoints leaves it: here its last checkpoint file is removed)
// is resumed from that checkpoint; the tracker no longer claims the steps after it until the
// run trains them again: stopped after one more step, it says the step it really reached.
func TestResumeForgetsStepsPastTheCheckpoint(t *testing.T) {
	dir := t.TempDir()
	train := func(extra ...string) (int, string) {
		code, _, stderr := runCLI(t, smokeTrainArgs(dir, append([]string{"--set", "train.steps=8", "--set", "train.log_every=1",
			"--set", "train.checkpoint_every=3", "--set", "train.keep_checkpoints=5"}, extra...)...)...)
		return code, stderr
	}
	if code, stderr := train(); code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	id := onlyRun(t, dir).ID
	if err := os.Remove(filepath.Join(dir, "runs", id, "checkpoints", "step-000000008.ckpt")); err != nil {
		t.Fatal(err)
	}
	code, stderr := train("--resume", "auto", "--set", "train.time_limit=1ns")
	if code != 0 || !strings.Contains(stderr, "logged after step 6") {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	if r := onlyRun(t, dir); r.ID != id || r.Steps != 7 {
		t.Errorf("logged to step 8, resumed from step 6 for one step: the tracker says %d steps, want 7", r.Steps)
	}
}

// TestTrainOnCorruptDataStops: a training folder whose images are all corrupt fails the run at
// the end of its first epoch, with the skip counts by reason, instead of cycling forever.
func TestTrainOnCorruptDataStops(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for name, b := range map[string][]byte{"a/cut.jpg": []byte("\xff\xd8\xff\xe0 cut short"), "a/empty.jpg": nil, "b/text.jpg": []byte("not an image")} {
		p := filepath.Join(data, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr := runCLI(t, smokeTrainArgs(dir, "--set", "data.source="+data, "--set", "train.steps=100000")...)
	for _, want := range []string{"not one could be used", "corrupt 1", "empty 1", "not_image 1"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, want)
		}
	}
	if strings.Contains(stderr, "resumable") {
		t.Errorf("a run that trained nothing is said to be resumable: %s", stderr)
	}
	if r := onlyRun(t, dir); r.Status != experiments.StatusFailed {
		t.Errorf("run %s, want FAILED", r.Status)
	}
}
