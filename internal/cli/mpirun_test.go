//go:build mpi && cgo

package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
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

// mpiHangLimit is how long an mpirun may run before the test calls it hung: no speed check
// (the jobs end in seconds), it turns a hang into a failure.
const mpiHangLimit = 3 * time.Minute

// mpiJob is natssl (this test binary) run as np ranks of one mpirun.
type mpiJob struct {
	np   int
	mca  []string // more mpirun flags
	env  []string // more variables for every rank
	// perRank is shell run on each rank before natssl starts, with $r its rank (per-rank
	// variables: every rank gets the same arguments).
	perRank string
	args    []string // natssl's
}

// command is the mpirun command line.
func (j mpiJob) command(ctx context.Context, t *testing.T) *exec.Cmd {
	t.Helper()
	path, err := exec.LookPath("mpirun")
	if err != nil {
		t.Fatalf("mpirun not found (Debian: openmpi-bin): %v", err)
	}
	args := []string{"--oversubscribe", "--bind-to", "none", "-np", strconv.Itoa(j.np)}
	if os.Geteuid() == 0 {
		args = append([]string{"--allow-run-as-root"}, args...)
	}
	args = append(args, j.mca...)
	script := `r=$OMPI_COMM_WORLD_RANK; ` + j.perRank + `
exec "$0" "$@"`
	args = append(append(args, "sh", "-c", script, os.Args[0]), j.args...)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(append(os.Environ(), asNatssl+"=1"), j.env...)
	// On a hang, SIGTERM lets mpirun take its ranks down with it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// mpiResult is how an mpirun ended.
type mpiResult struct {
	out  string
	code int
}

// run runs the job to its end.
func (j mpiJob) run(t *testing.T) mpiResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mpiHangLimit)
	defer cancel()
	cmd := j.command(ctx, t)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mpirun -np %d still running after %v: a hang\n%s", j.np, mpiHangLimit, out)
	}
	r := mpiResult{out: string(out), code: exitStatus(t, err)}
	t.Logf("mpirun -np %d %s: exit %d after %v", j.np, strings.Join(j.args, " "), r.code, time.Since(start).Round(time.Millisecond))
	return r
}

// exitStatus is a finished command's exit code, 128+N when signal N ended it.
func exitStatus(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatalf("mpirun: %v", err)
	return -1
}

// startUntil starts the job and returns once a line of its output contains mark, with the
// command, the lines so far and a function that reads the rest and waits for the end.
func (j mpiJob) startUntil(t *testing.T, mark string) (*exec.Cmd, func() mpiResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mpiHangLimit)
	t.Cleanup(cancel)
	cmd := j.command(ctx, t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(pr)
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if strings.Contains(lines.Text(), mark) {
			return cmd, func() mpiResult {
				for lines.Scan() {
					seen = append(seen, lines.Text())
				}
				err := cmd.Wait()
				if ctx.Err() != nil {
					t.Fatalf("mpirun still running after %v: a hang\n%s", mpiHangLimit, strings.Join(seen, "\n"))
				}
				return mpiResult{out: strings.Join(seen, "\n"), code: exitStatus(t, err)}
			}
		}
	}
	cmd.Wait()
	t.Fatalf("the job ended before %q:\n%s", mark, strings.Join(seen, "\n"))
	return nil, nil
}

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
	d, err := experiments.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
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
