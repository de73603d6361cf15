package sagemaker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
	"github.com/natssl/natssl/sagemaker"
	"github.com/natssl/natssl/trainer"
)

// These tests run the real natssl binary as SageMaker runs its container: `natssl train` with
// no other argument, the job's files under SAGEMAKER_BASE_DIR.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// TestMain removes the binary built for the subprocess tests. The binary is built on first use,
// so that the package's other tests do not wait for it.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func natssl(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "natssl-e2e-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "natssl")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/natssl/natssl/cmd/natssl").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build natssl: %v", buildErr)
	}
	return binPath
}

// jobBase lays out /opt/ml under a temporary folder as SageMaker does for a job launched with
// cfg: hyperparameters.json as natssl launch would send them (plus SageMaker's own keys), one
// host, a train channel with the real smoke images and a newt channel with the smoke suite.
func jobBase(t *testing.T, cfg *configs.Config, override map[string]string) string {
	t.Helper()
	base := t.TempDir()
	hp, err := sagemaker.Hyperparameters(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hp["sagemaker_job_name"] = `"natssl-e2e"`
	for k, v := range override {
		hp[k] = v
	}
	hpJSON, _ := json.Marshal(hp)
	files := map[string][]byte{
		"input/config/hyperparameters.json": hpJSON,
		"input/config/resourceconfig.json":  []byte(`{"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}`),
		"input/config/inputdataconfig.json": []byte(`{"train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
 "newt": {"TrainingInputMode": "FastFile", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}}`),
	}
	for rel, b := range files {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for ch, src := range map[string]string{"train": "../configs/smoke/train", "newt": "../configs/smoke/newt"} {
		if err := os.CopyFS(filepath.Join(base, "input", "data", ch), os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

// smoke is the smoke preset with changes, as a user would launch it.
func smoke(t *testing.T, sets ...string) *configs.Config {
	t.Helper()
	cfg, err := configs.Load(configs.Sources{Env: []string{}, File: "smoke", Sets: sets})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// trainCmd is `natssl train` in the job at base, run from an empty folder.
func trainCmd(t *testing.T, base string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(natssl(t), "train")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), sagemaker.BaseEnv+"="+base)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestJobTrainsAndExportsTheModel(t *testing.T) {
	ctx := context.Background()
	base := jobBase(t, smoke(t, "train.lr=0.0005", "train.steps=4", "train.checkpoint_every=2"), nil)
	cmd, out := trainCmd(t, base)
	if err := cmd.Run(); err != nil {
		t.Fatalf("natssl train: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(base, "output", "failure")); err == nil {
		t.Errorf("failure file after a success: %s", b)
	}
	model := filepath.Join(base, "model")
	for _, name := range []string{sagemaker.ModelCheckpoint, sagemaker.ModelConfig, sagemaker.ModelDB} {
		if fi, err := os.Stat(filepath.Join(model, name)); err != nil || fi.Size() == 0 {
			t.Errorf("model artefact %s: %v", name, err)
		}
	}
	// The config the job ran: the hyperparameters applied, the data in the job's channels.
	ran, err := configs.Load(configs.Sources{Env: []string{}, File: filepath.Join(model, sagemaker.ModelConfig)})
	if err != nil {
		t.Fatal(err)
	}
	if ran.Train.LR != 0.0005 || ran.Train.Steps != 4 {
		t.Errorf("the job ran train.lr %v steps %d, want the hyperparameters 0.0005 and 4", ran.Train.LR, ran.Train.Steps)
	}
	if ran.Data.Source != filepath.Join(base, "input/data/train") {
		t.Errorf("data.source %q, want the train channel", ran.Data.Source)
	}
	// The database copy: one finished run that recorded the hyperparameter as its param.
	db, err := experiments.Open(ctx, filepath.Join(model, sagemaker.ModelDB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs, err := db.ListRuns(ctx, experiments.ListOptions{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs in the exported database: %d, %v", len(runs), err)
	}
	if runs[0].Status != experiments.StatusFinished {
		t.Errorf("run status %s, want FINISHED", runs[0].Status)
	}
	// The newt channel's suite scored the final checkpoint, recorded with the run.
	evals, err := db.Evals(ctx, runs[0].ID)
	if err != nil || len(evals) == 0 {
		t.Errorf("NeWT evaluations in the exported database: %d, %v\n%s", len(evals), err, out)
	}
	for _, ev := range evals {
		if ev.CheckpointStep != 4 {
			t.Errorf("evaluation of step %d, want the final step 4: %+v", ev.CheckpointStep, ev)
			break
		}
	}
	// The checkpoints and the live database stay in the checkpoint folder SageMaker syncs.
	if _, err := os.Stat(filepath.Join(base, "checkpoints", "natssl.db")); err != nil {
		t.Errorf("tracker database not in checkpoints/: %v", err)
	}
}

func TestJobBadHyperparameter(t *testing.T) {
	base := jobBase(t, smoke(t), map[string]string{"train.lr": "fast"})
	cmd, out := trainCmd(t, base)
	err := cmd.Run()
	if code := exitCode(err); code == 0 {
		t.Fatalf("natssl train exited 0 with train.lr=fast\n%s", out)
	}
	b, rerr := os.ReadFile(filepath.Join(base, "output", "failure"))
	if rerr != nil {
		t.Fatalf("no failure file: %v\n%s", rerr, out)
	}
	msg := string(b)
	for _, want := range []string{"hyperparameters.json", `train.lr = "fast": want a number`} {
		if !strings.Contains(msg[:min(len(msg), 1024)], want) {
			t.Errorf("failure reason (first 1,024 characters) lacks %q:\n%s", want, msg)
		}
	}
	if strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Errorf("failure reason is not one paragraph:\n%s", msg)
	}
	if _, err := os.Stat(filepath.Join(base, "model", sagemaker.ModelCheckpoint)); err == nil {
		t.Error("a failed job wrote a model")
	}
}

// checkpoints lists the checkpoint files natssl keeps in the job's checkpoint folder.
func checkpoints(t *testing.T, base string) []string {
	var found []string
	filepath.WalkDir(filepath.Join(base, "checkpoints"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".ckpt") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// interrupt starts natssl train in the job at base and sends it SIGTERM, as SageMaker does on
// a spot interruption, once the first checkpoint is in checkpoints/. It returns the output.
func interrupt(t *testing.T, base string) string {
	t.Helper()
	cmd, out := trainCmd(t, base)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(3 * time.Minute)
	for len(checkpoints(t, base)) == 0 {
		select {
		case err := <-done:
			t.Fatalf("natssl train ended (%v) before its first checkpoint:\n%s", err, out)
		case <-deadline:
			cmd.Process.Kill()
			<-done
			t.Fatalf("no checkpoint after 3 minutes:\n%s", out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// SIGTERM, then SIGKILL 120 s later.
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Logf("exited %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
		if err == nil {
			t.Errorf("natssl train exited 0 after SIGTERM:\n%s", out)
		}
	case <-time.After(120 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("natssl train did not exit within SageMaker's 120 s of SIGTERM:\n%s", out)
	}
	if len(checkpoints(t, base)) == 0 {
		t.Fatalf("no checkpoint in checkpoints/ after SIGTERM:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(base, "output", "failure")); err != nil || !strings.Contains(string(b), "stopped by a signal") {
		t.Errorf("failure file after SIGTERM: %q, %v", b, err)
	}
	return out.String()
}

// newestStep is the step of the newest valid checkpoint under the job's checkpoint folder.
func newestStep(t *testing.T, base string) int64 {
	t.Helper()
	var step int64 = -1
	filepath.WalkDir(filepath.Join(base, "checkpoints"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if c, err := trainer.LatestCheckpoint(p, nil); err == nil {
				step = max(step, c.Header.Step)
			}
		}
		return nil
	})
	return step
}

func TestJobSIGTERMCheckpointsAndRestartResumes(t *testing.T) {
	const steps = 60 // enough that the first attempt is still training when the signal comes
	tests := []struct {
		name string
		// tear damages the restored tracker database, as an upload racing SQLite's writes can.
		tear bool
	}{
		{name: "same run from its newest checkpoint"},
		{name: "torn database: a new run from the newest checkpoint file", tear: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			base := jobBase(t, smoke(t, fmt.Sprintf("train.steps=%d", steps), "train.checkpoint_every=5", "train.log_every=1", "train.time_limit=0"), nil)
			first := interrupt(t, base)
			from := newestStep(t, base)
			if from < 5 || from >= steps {
				t.Fatalf("newest checkpoint after SIGTERM at step %d, want one in [5, %d)", from, steps)
			}
			live := filepath.Join(base, "checkpoints", "natssl.db")
			if tt.tear {
				f, err := os.OpenFile(live, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt([]byte(strings.Repeat("torn", 25)), 0)
				f.Close()
			}

			// SageMaker restores checkpoints/ on a new instance and starts the container again.
			os.RemoveAll(filepath.Join(base, "output"))
			cmd, out := trainCmd(t, base)
			if err := cmd.Run(); err != nil {
				t.Fatalf("restart: %v\nfirst attempt:\n%s\nrestart:\n%s", err, first, out)
			}
			db, err := experiments.Open(ctx, filepath.Join(base, "model", sagemaker.ModelDB))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			runs, err := db.ListRuns(ctx, experiments.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 1 || runs[0].Status != experiments.StatusFinished {
				t.Fatalf("after the restart the database holds %d runs, want one FINISHED: %+v\nrestart:\n%s", len(runs), runs, out)
			}
			// The restart trained only the steps after the checkpoint: it did not begin at 0.
			loss, err := db.MetricSeries(ctx, runs[0].ID, metric.Loss)
			if err != nil || len(loss) == 0 {
				t.Fatalf("loss series: %d points, %v", len(loss), err)
			}
			seen := map[int64]int{}
			for _, p := range loss {
				seen[p.Step]++
			}
			for step := int64(1); step <= from; step++ {
				if want := map[bool]int{false: 1, true: 0}[tt.tear]; seen[step] != want {
					t.Errorf("loss logged %d times at step %d (resumed from %d), want %d\nrestart:\n%s", seen[step], step, from, want, out)
				}
			}
			if last := loss[len(loss)-1].Step; last != steps {
				t.Errorf("last logged step %d, want %d", last, steps)
			}
			if aside, _ := filepath.Glob(live + ".corrupt-*"); tt.tear != (len(aside) > 0) {
				t.Errorf("databases moved aside: %v", aside)
			}
		})
	}
}
