//go:build mpi && cgo

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/internal/pipeline"
	"github.com/natssl/natssl/trainer"
)

// mpiTrainArgs are natssl train on the smoke data, small and quick, one CPU replica per rank.
// The tracker and the run folders come from per-rank variables (rankDirs).
func mpiTrainArgs(extra ...string) []string {
	args := []string{"train", "--config", "smoke", "--set", "data.source=../../configs/smoke/train",
		"--set", "data.image_size=16", "--set", "model.width=4", "--set", "train.devices=cpu",
		"--set", "eval.monitor_every=0"}
	return append(args, extra...)
}

// rankDirs gives every rank its own tracker and run folder under dir/rank<r>: what a rank
// other than 0 writes would show there.
func rankDirs(dir string) string {
	return fmt.Sprintf(`export NATSSL_RUN_OUT_DIR=%[1]s/rank$r/runs NATSSL_RUN_DB=%[1]s/rank$r/natssl.db`, dir)
}

// onlyRank0Wrote fails t unless rank 0 alone left files under dir (rankDirs).
func onlyRank0Wrote(t *testing.T, dir string, np int) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "rank0", "natssl.db")); err != nil {
		t.Errorf("rank 0 wrote no tracker: %v", err)
	}
	for r := 1; r < np; r++ {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("rank%d", r))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("rank %d wrote under %s (%v): only rank 0 writes", r, dir, err)
		}
	}
}

// trackedRun is the one run of a tracker, its loss at every step and its last checkpoint.
type trackedRun struct {
	info   *experiments.RunInfo
	tags   map[string]string
	losses map[int64]float64
	ckpts  []experiments.Checkpoint
}

func readRun(t *testing.T, db string) trackedRun {
	t.Helper()
	ctx := context.Background()
	d := openDB(t, db)
	runs, err := d.ListRuns(ctx, experiments.ListOptions{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("%s: runs %v, %v; want one", db, runs, err)
	}
	r := trackedRun{info: runs[0], losses: map[int64]float64{}}
	pts, err := d.MetricSeries(ctx, r.info.ID, "loss")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pts {
		r.losses[p.Step] = p.Value
	}
	if r.tags, err = d.Tags(ctx, r.info.ID); err != nil {
		t.Fatal(err)
	}
	if r.ckpts, err = d.Checkpoints(ctx, r.info.ID); err != nil {
		t.Fatal(err)
	}
	return r
}

// sameLosses fails t unless got has want's loss at every step, bit for bit.
func sameLosses(t *testing.T, got, want map[int64]float64, steps int64) {
	t.Helper()
	for s := int64(1); s <= steps; s++ {
		g, okg := got[s]
		w, okw := want[s]
		if !okg || !okw || math.Float64bits(g) != math.Float64bits(w) {
			t.Errorf("step %d: loss %v (logged %v), want %v (logged %v), bit for bit", s, g, okg, w, okw)
		}
	}
}

// sameTensors fails t unless the checkpoints hold the same tensors, bit for bit.
func sameTensors(t *testing.T, got, want string) {
	t.Helper()
	a, err := trainer.ReadCheckpoint(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := trainer.ReadCheckpoint(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d tensors, want %d", len(a.Tensors), len(b.Tensors))
	}
	for name, x := range b.Tensors {
		y := a.Tensors[name]
		for i := range x {
			if i >= len(y) || math.Float32bits(x[i]) != math.Float32bits(y[i]) {
				t.Errorf("tensor %s differs at %d", name, i)
				break
			}
		}
	}
	if a.Header.Position != b.Header.Position {
		t.Errorf("loader position %+v, want %+v", a.Header.Position, b.Header.Position)
	}
}

// TestRanksTrainAsReplicas: N ranks of one CPU replica each give, bit for bit, the losses of
// every step and the final model of one process with N replicas (the embeddings gathered in
// rank order, the gradients and the batch-norm statistics summed in rank order); rank 0
// alone writes the tracker and the checkpoints, its run says the world size, and the online
// monitor runs on rank 0.
func TestRanksTrainAsReplicas(t *testing.T) {
	for _, np := range []int{2, 3} {
		t.Run(fmt.Sprintf("np%d", np), func(t *testing.T) {
			dir := t.TempDir()
			sets := []string{"--set", fmt.Sprintf("data.batch_size=%d", 8*np), "--set", "eval.monitor_every=3"}
			devices := strings.TrimSuffix(strings.Repeat("cpu,", np), ",")
			one := append(mpiTrainArgs(sets...), "--set", "train.devices="+devices,
				"--set", "run.out_dir="+filepath.Join(dir, "one"), "--db", filepath.Join(dir, "one.db"))
			if code, _, stderr := runCLI(t, one...); code != 0 {
				t.Fatalf("one process: exit %d: %s", code, stderr)
			}
			j := mpiJob{np: np, perRank: rankDirs(dir), args: mpiTrainArgs(sets...)}.run(t)
			if j.code != 0 {
				t.Fatalf("%d ranks: exit %d\n%s", np, j.code, j.out)
			}
			want, got := readRun(t, filepath.Join(dir, "one.db")), readRun(t, filepath.Join(dir, "rank0", "natssl.db"))
			if got.info.Status != experiments.StatusFinished || got.info.Steps != 6 {
				t.Fatalf("run over %d ranks: %+v", np, got.info)
			}
			sameLosses(t, got.losses, want.losses, 6)
			if len(got.ckpts) != 2 || len(want.ckpts) != 2 {
				t.Fatalf("checkpoints %+v, want 2 like %+v", got.ckpts, want.ckpts)
			}
			sameTensors(t, got.ckpts[1].Path, want.ckpts[1].Path)
			onlyRank0Wrote(t, dir, np)
			if got.tags[pipeline.WorldSizeTag] != strconv.Itoa(np) {
				t.Errorf("tags %v, want %s=%d", got.tags, pipeline.WorldSizeTag, np)
			}
			for _, k := range []string{"images_per_s", "data_wait", "loader_images_per_s", "monitor/knn_top1"} {
				if _, ok := got.info.Latest[k]; !ok {
					t.Errorf("metric %s not logged (have %v)", k, keys(got.info.Latest))
				}
			}
			if n := strings.Count(j.out, "step 6/6"); n != 1 {
				t.Errorf("%d progress lines of step 6, want rank 0's alone\n%s", n, j.out)
			}
		})
	}
}

// TestRanksResumeOtherWorldSize: a run goes from 1 process of 2 replicas to 2 ranks of 1 and
// back, each time with --resume auto and no --resume-force (the world's replicas, what the
// maths depends on, stay 2), and ends with the losses of an uninterrupted run, bit for bit:
// the loader's position counts the global stream. A resume on 1 replica changes the maths and
// is refused without --resume-force.
func TestRanksResumeOtherWorldSize(t *testing.T) {
	dir := t.TempDir()
	sets := []string{"--set", "train.steps=8", "--set", "train.checkpoint_every=2"}
	single := func(devices string, extra ...string) []string {
		return append(append(mpiTrainArgs(sets...), "--set", "train.devices="+devices,
			"--set", "run.out_dir="+filepath.Join(dir, "rank0", "runs"), "--db", filepath.Join(dir, "rank0", "natssl.db")), extra...)
	}
	ref := append(mpiTrainArgs(sets...), "--set", "train.devices=cpu,cpu",
		"--set", "run.out_dir="+filepath.Join(dir, "ref"), "--db", filepath.Join(dir, "ref.db"))
	if code, _, stderr := runCLI(t, ref...); code != 0 {
		t.Fatalf("uninterrupted: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, single("cpu,cpu", "--set", "train.time_limit=1ns")...); code != 0 {
		t.Fatalf("1 process, until its time limit: exit %d: %s", code, stderr)
	}
	// [auto]: each rank's device follows its local rank, the CPU in this build.
	j := mpiJob{np: 2, perRank: rankDirs(dir), args: mpiTrainArgs(append(sets, "--resume", "auto", "--set", "train.time_limit=1ns",
		"--set", "train.devices=[auto]")...)}.run(t)
	if j.code != 0 || !strings.Contains(j.out, "from step 1") {
		t.Fatalf("2 ranks resuming step 1: exit %d\n%s", j.code, j.out)
	}
	mid := readRun(t, filepath.Join(dir, "rank0", "natssl.db"))
	if mid.info.Steps != 2 || mid.tags[pipeline.WorldSizeTag] != "2" {
		t.Fatalf("after 2 ranks: %d steps, tags %v; want 2 and world_size 2", mid.info.Steps, mid.tags)
	}
	code, _, stderr := runCLI(t, single("cpu", "--resume", "auto")...)
	if code != 2 || !strings.Contains(stderr, "train.devices (replicas): 2 → 1") {
		t.Fatalf("1 replica: exit %d, want 2 and the replicas named: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, single("cpu,cpu", "--resume", "auto")...); code != 0 || !strings.Contains(stderr, "from step 2") {
		t.Fatalf("1 process resuming step 2: exit %d: %s", code, stderr)
	}
	got, want := readRun(t, filepath.Join(dir, "rank0", "natssl.db")), readRun(t, filepath.Join(dir, "ref.db"))
	if got.info.ID != mid.info.ID || got.info.Status != experiments.StatusFinished || got.info.Steps != 8 || got.tags[pipeline.WorldSizeTag] != "1" {
		t.Fatalf("resumed run %+v, tags %v; want run %s finished at step 8 on 1 process", got.info, got.tags, mid.info.ID)
	}
	sameLosses(t, got.losses, want.losses, 8)
	sameTensors(t, got.ckpts[len(got.ckpts)-1].Path, want.ckpts[len(want.ckpts)-1].Path)
	onlyRank0Wrote(t, dir, 2)
}

// pidOf reads the pid a rank wrote (pidDirEnv).
func pidOf(t *testing.T, dir string, rank int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rank-%d", rank)))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestRankKilled: kill -9 of rank 1 mid-run ends the job (mpirun takes the others down, and
// rank 0, stuck in a collective with the dead rank, marks the run FAILED before its SIGKILL
// comes); --resume auto over the same world size then finishes the run with the losses of an
// uninterrupted one, bit for bit.
func TestRankKilled(t *testing.T) {
	dir, pids := t.TempDir(), t.TempDir()
	sets := []string{"--set", "train.steps=200", "--set", "train.checkpoint_every=2", "--set", "train.log_every=1"}
	ref := append(mpiTrainArgs(sets...), "--set", "train.devices=cpu,cpu",
		"--set", "run.out_dir="+filepath.Join(dir, "ref"), "--db", filepath.Join(dir, "ref.db"))
	if code, _, stderr := runCLI(t, ref...); code != 0 {
		t.Fatalf("uninterrupted: exit %d: %s", code, stderr)
	}
	job := mpiJob{np: 2, perRank: rankDirs(dir), env: []string{pidDirEnv + "=" + pids}, args: mpiTrainArgs(sets...)}
	_, wait := job.startUntil(t, "step 5/200")
	if err := syscall.Kill(pidOf(t, pids, 1), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	j := wait()
	t.Logf("the job ended %v after the kill, exit %d", time.Since(killed).Round(time.Millisecond), j.code)
	if j.code == 0 {
		t.Fatalf("exit 0 after a rank was killed\n%s", j.out)
	}
	crashed := readRun(t, filepath.Join(dir, "rank0", "natssl.db"))
	if crashed.info.Status != experiments.StatusFailed || !strings.Contains(crashed.info.Error, "did not stop") {
		t.Errorf("run %s %s (%q), want FAILED with the reason\n%s", crashed.info.ID, crashed.info.Status, crashed.info.Error, j.out)
	}
	if crashed.info.Steps >= 200 {
		t.Fatalf("the run finished before the kill")
	}
	job.args = mpiTrainArgs(append(sets, "--resume", "auto")...)
	j = job.run(t)
	if j.code != 0 || !strings.Contains(j.out, "resuming run "+crashed.info.ID) {
		t.Fatalf("resume: exit %d\n%s", j.code, j.out)
	}
	got, want := readRun(t, filepath.Join(dir, "rank0", "natssl.db")), readRun(t, filepath.Join(dir, "ref.db"))
	if got.info.Status != experiments.StatusFinished || got.info.Steps != 200 {
		t.Fatalf("resumed run %+v", got.info)
	}
	sameLosses(t, got.losses, want.losses, 200)
	onlyRank0Wrote(t, dir, 2)
}

// TestRanksStopOnSignal: SIGUSR1 to mpirun (forwarded at once), or SIGTERM with
// odls_base_sigkill_timeout long enough for a step and a checkpoint (mpirun forwards it as
// SIGTERM only after that time), stops every rank at the same step: rank 0 writes a
// checkpoint of that step, the run is KILLED, every rank leaves the job (mpirun would hang on
// a rank stuck in a collective otherwise), and --resume auto continues the run: after
// SIGUSR1 to its last step, with the losses of an uninterrupted run.
func TestRanksStopOnSignal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sig   syscall.Signal
		mca   []string
		steps int // SIGTERM comes seconds late: a run that would not end by itself
		// logEvery keeps the output small: a rank printing a line per step has been seen
		// blocked on a full pipe once mpirun had SIGTERM (no longer reading its output?).
		logEvery int
	}{
		{"SIGUSR1", syscall.SIGUSR1, nil, 200, 1},
		{"SIGTERM", syscall.SIGTERM, []string{"--mca", "odls_base_sigkill_timeout", "3"}, 1_000_000, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sets := []string{"--set", fmt.Sprintf("train.steps=%d", tc.steps), "--set", "train.checkpoint_every=0",
				"--set", fmt.Sprintf("train.log_every=%d", tc.logEvery)}
			job := mpiJob{np: 2, mca: tc.mca, perRank: rankDirs(dir), args: mpiTrainArgs(sets...)}
			cmd, wait := job.startUntil(t, fmt.Sprintf("step %d/%d", 3*tc.logEvery, tc.steps))
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			j := wait()
			stopped := readRun(t, filepath.Join(dir, "rank0", "natssl.db"))
			if j.code == 0 || stopped.info.Status != experiments.StatusKilled {
				t.Fatalf("exit %d, run %s (%s); want a non-zero exit and KILLED\n%s", j.code, stopped.info.Status, stopped.info.Error, j.out)
			}
			if n := strings.Count(j.out, "stopping after this step"); n != 2 {
				t.Errorf("%d ranks said they stop, want 2\n%s", n, j.out)
			}
			if tc.sig == syscall.SIGUSR1 && j.code != 138 {
				t.Errorf("exit %d, want 138 (128 + SIGUSR1) from the ranks that stopped\n%s", j.code, j.out)
			}
			if len(stopped.ckpts) == 0 {
				t.Fatalf("no checkpoint recorded\n%s", j.out)
			}
			last := stopped.ckpts[len(stopped.ckpts)-1] // of the step all stopped after
			if last.Step < stopped.info.Steps || last.Step >= int64(tc.steps) {
				t.Fatalf("last checkpoint at step %d, run at step %d", last.Step, stopped.info.Steps)
			}
			job.mca = nil
			job.args = mpiTrainArgs(append(sets, "--resume", "auto")...)
			if tc.steps > 200 {
				job.args = append(job.args, "--set", "train.time_limit=1ns")
			}
			j = job.run(t)
			if j.code != 0 || !strings.Contains(j.out, fmt.Sprintf("resuming run %s (KILLED) from step %d", stopped.info.ID, last.Step)) {
				t.Fatalf("resume: exit %d\n%s", j.code, j.out)
			}
			got := readRun(t, filepath.Join(dir, "rank0", "natssl.db"))
			if got.info.Status != experiments.StatusFinished || got.ckpts[len(got.ckpts)-1].Step <= last.Step {
				t.Fatalf("resumed run %s, checkpoints %+v; want FINISHED past step %d", got.info.Status, got.ckpts, last.Step)
			}
			if tc.steps > 200 {
				return
			}
			ref := append(mpiTrainArgs(sets...), "--set", "train.devices=cpu,cpu",
				"--set", "run.out_dir="+filepath.Join(dir, "ref"), "--db", filepath.Join(dir, "ref.db"))
			if code, _, stderr := runCLI(t, ref...); code != 0 {
				t.Fatalf("uninterrupted: exit %d: %s", code, stderr)
			}
			sameLosses(t, got.losses, readRun(t, filepath.Join(dir, "ref.db")).losses, int64(tc.steps))
		})
	}
}

// TestRankFailureRecorded: a failure once rank 0 has opened the run (none of rank 1's images
// decodes: rank 1 finds it, or every rank at once, as they all leave out a batch short on
// any) ends the job, and rank 0 records the run FAILED with the error. Inputs and
// devices are checked on every rank before the run exists: rank 1 without data (its working
// folder has none), or with a device it cannot open, ends the job naming rank 1's error, and
// leaves no run behind. Ranks whose configs differ in the maths, or in the steps at which the
// ranks meet (train.log_every), refuse before anything is recorded.
func TestRankFailureRecorded(t *testing.T) {
	dir := t.TempDir()
	for _, r := range []string{"0", "1"} {
		if err := os.MkdirAll(filepath.Join(dir, "cwd"+r), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "bad"+r), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Rank 1's copy of the images is the same files, none of which decodes.
	if err := os.CopyFS(filepath.Join(dir, "bad0", "data"), os.DirFS("../../configs/smoke/train")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "bad1", "data"), os.DirFS("../../configs/smoke/train")); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(filepath.Join(dir, "bad1", "data"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.WriteFile(path, []byte("not an image"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	job := mpiJob{np: 2, perRank: rankDirs(filepath.Join(dir, "decode")) + "\ncd " + dir + "/bad$r", args: mpiTrainArgs("--set", "data.source=data")}
	j := job.run(t)
	if j.code == 0 {
		t.Fatalf("exit 0 without an image rank 1 can decode\n%s", j.out)
	}
	run := readRun(t, filepath.Join(dir, "decode", "rank0", "natssl.db"))
	if run.info.Status != experiments.StatusFailed || !strings.Contains(run.info.Error, "trainer: two epochs went by without one full batch") {
		t.Errorf("run %s %q, want FAILED with the error\n%s", run.info.Status, run.info.Error, j.out)
	}

	job = mpiJob{np: 2, perRank: rankDirs(filepath.Join(dir, "device")) + `
if [ $r = 1 ]; then set -- "$@" --set train.devices=cuda:99; fi`, args: mpiTrainArgs()}
	j = job.run(t)
	if j.code == 0 || !strings.Contains(j.out, "rank 1 failed") || !strings.Contains(j.out, "cuda:99") {
		t.Fatalf("exit %d, want a failure naming rank 1 and its device\n%s", j.code, j.out)
	}
	noRuns(t, filepath.Join(dir, "device", "rank0", "natssl.db"))

	if err := os.CopyFS(filepath.Join(dir, "cwd0", "data"), os.DirFS("../../configs/smoke/train")); err != nil {
		t.Fatal(err)
	}
	job = mpiJob{np: 2, perRank: rankDirs(filepath.Join(dir, "data")) + "\ncd " + dir + "/cwd$r", args: mpiTrainArgs("--set", "data.source=data")}
	j = job.run(t)
	if j.code == 0 || !strings.Contains(j.out, "rank 1 failed") || !strings.Contains(j.out, "data.source") {
		t.Fatalf("exit %d, want a failure naming rank 1 and its data.source\n%s", j.code, j.out)
	}
	noRuns(t, filepath.Join(dir, "data", "rank0", "natssl.db"))

	for name, v := range map[string]string{"lr": "NATSSL_TRAIN_LR=0.0$((r+1))", "log_every": "NATSSL_TRAIN_LOG_EVERY=$((r+1))"} {
		job = mpiJob{np: 2, perRank: rankDirs(filepath.Join(dir, name)) + "\nexport " + v, args: mpiTrainArgs()}
		j = job.run(t)
		if j.code == 0 || !strings.Contains(j.out, "differs from rank 0's on rank(s) [1]") {
			t.Fatalf("%s: exit %d, want the configs' difference named\n%s", name, j.code, j.out)
		}
		if _, err := os.Stat(filepath.Join(dir, name, "rank0", "natssl.db")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a tracker was written before the ranks agreed: %v", name, err)
		}
	}
}

// noRuns fails t unless the tracker db holds no run.
func noRuns(t *testing.T, db string) {
	t.Helper()
	runs, err := openDB(t, db).ListRuns(context.Background(), experiments.ListOptions{Archived: experiments.ArchivedToo})
	if err != nil || len(runs) != 0 {
		t.Errorf("%s: runs %v, %v; want none", db, runs, err)
	}
}

// TestBenchTrainUnderMpirun: bench train over 2 ranks measures the step with its collectives:
// rank 0 alone prints, world_size 2, comm_s within the step, the global batch.
func TestBenchTrainUnderMpirun(t *testing.T) {
	j := mpiJob{np: 2, args: []string{"bench", "train", "--config", "smoke", "--replicas", "1", "--steps", "2", "--warmup", "1", "--json"}}.run(t)
	if j.code != 0 {
		t.Fatalf("exit %d\n%s", j.code, j.out)
	}
	var last string
	n := 0
	for _, l := range strings.Split(j.out, "\n") {
		if strings.HasPrefix(l, "{") {
			last = l
			n++
		}
	}
	var got trainer.BenchResult
	if err := json.Unmarshal([]byte(last), &got); err != nil || n != 1 {
		t.Fatalf("%d JSON lines, last %q (%v); want rank 0's one\n%s", n, last, err, j.out)
	}
	if got.WorldSize != 2 || got.Replicas != 1 || got.Batch != 16 || got.Device != "cpu" || got.CommS <= 0 || got.CommS >= got.StepS {
		t.Errorf("result %+v: want 2 ranks of 1 cpu replica, batch 16, 0 < comm_s < step_s", got)
	}
}
