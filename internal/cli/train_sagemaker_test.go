package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/sagemaker"
)

// jobTree lays out a SageMaker job's /opt/ml under a temporary base and points
// SAGEMAKER_BASE_DIR at it: the three config files and a train channel holding real images.
func jobTree(t *testing.T, hyperparameters string) string {
	t.Helper()
	base := t.TempDir()
	t.Setenv(sagemaker.BaseEnv, base)
	files := map[string]string{
		"input/config/hyperparameters.json": hyperparameters,
		"input/config/resourceconfig.json":  `{"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]}`,
		"input/config/inputdataconfig.json": `{"train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}}`,
	}
	for rel, content := range files {
		p := filepath.Join(base, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(base, "input/data/train"), os.DirFS("../../testdata/smoke")); err != nil {
		t.Fatal(err)
	}
	return base
}

// recordRun does what the trainer does with the tracker and the checkpoint folder: a run in
// cfg's database, a checkpoint file beside it. It returns the checkpoint's path.
func recordRun(ctx context.Context, t *testing.T, cfg *configs.Config) string {
	db, err := experiments.Open(ctx, cfg.Run.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run, err := db.CreateRun(ctx, experiments.RunSpec{Name: cfg.Run.Name, Seed: cfg.Run.Seed})
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(cfg.Run.OutDir, "step-4.ckpt")
	if err := os.WriteFile(ckpt, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run.LogMetrics(ctx, 4, map[string]float64{"loss": 1.5}); err != nil {
		t.Fatal(err)
	}
	if err := run.RecordCheckpoint(ctx, 4, ckpt, "00", 7); err != nil {
		t.Fatal(err)
	}
	if err := run.Finish(ctx, experiments.StatusFinished, ""); err != nil {
		t.Fatal(err)
	}
	return ckpt
}

func TestTrainInJob(t *testing.T) {
	ctx := context.Background()
	base := jobTree(t, `{"train.lr": "0.125", "model.width": "8", "sagemaker_program": "\"x\""}`)
	// A failure file from an earlier attempt must not survive a success.
	if err := os.MkdirAll(filepath.Join(base, "output"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "output", "failure"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &env{Stdout: &strings.Builder{}, Stderr: &strings.Builder{}, Global: &globalOptions{}}
	var got *configs.Config
	var gotJob jobTrain
	ok, err := e.trainInJob(ctx, func(ctx context.Context, cfg *configs.Config, j jobTrain) (string, error) {
		got, gotJob = cfg, j
		return recordRun(ctx, t, cfg), nil
	})
	if !ok || err != nil {
		t.Fatalf("trainInJob = %v, %v", ok, err)
	}
	if got.Train.LR != 0.125 || got.Model.Width != 8 {
		t.Errorf("hyperparameters not applied: lr %v width %d", got.Train.LR, got.Model.Width)
	}
	if got.Data.Source != filepath.Join(base, "input/data/train") || got.Run.OutDir != filepath.Join(base, "checkpoints", "algo-1") {
		t.Errorf("source %s out_dir %s", got.Data.Source, got.Run.OutDir)
	}
	if gotJob != (jobTrain{Shard: 0, Shards: 2, Resume: "auto"}) {
		t.Errorf("job options %+v", gotJob)
	}
	for _, name := range []string{"final.ckpt", "config.yaml", "natssl.db"} {
		if _, err := os.Stat(filepath.Join(base, "model", name)); err != nil {
			t.Errorf("model artefact: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "output", "failure")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failure file after a success: %v", err)
	}
	db, err := experiments.Open(ctx, filepath.Join(base, "model", "natssl.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if cks, err := db.ListRuns(ctx, experiments.ListOptions{}); err != nil || len(cks) != 1 {
		t.Errorf("runs in the exported database: %d, %v", len(cks), err)
	}
}

func TestTrainInJobFailures(t *testing.T) {
	tests := []struct {
		name, hp string
		train    error
		code     int
		want     string
	}{
		{name: "bad hyperparameter", hp: `{"train.lr": "fast"}`, code: 2,
			want: `config: ` + "%BASE%" + `/input/config/hyperparameters.json (hyperparameter "train.lr"): train.lr = "fast": want a number`},
		{name: "unknown hyperparameter", hp: `{"train.steps": "5", "trian.lr": "0.1"}`, code: 2, want: `trian.lr = "0.1": unknown key (did you mean train.lr?)`},
		{name: "hyperparameters not JSON", hp: `{"train.lr": 0.1,}`, code: 1, want: `hyperparameters.json:1: not valid JSON`},
		{name: "training fails", hp: `{}`, train: errors.New("trainer: step 3: loss is NaN"), code: 1, want: "trainer: step 3: loss is NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := jobTree(t, tt.hp)
			e := &env{Stdout: &strings.Builder{}, Stderr: &strings.Builder{}, Global: &globalOptions{}}
			ok, err := e.trainInJob(context.Background(), func(context.Context, *configs.Config, jobTrain) (string, error) {
				return "", tt.train
			})
			if !ok || err == nil {
				t.Fatalf("trainInJob = %v, %v; want a failure", ok, err)
			}
			if code := exitCode(err); code != tt.code {
				t.Errorf("exit code %d, want %d (%v)", code, tt.code, err)
			}
			b, rerr := os.ReadFile(filepath.Join(base, "output", "failure"))
			want := strings.ReplaceAll(tt.want, "%BASE%", base)
			if rerr != nil || !strings.Contains(string(b), want) || strings.Count(string(b), "\n") != 1 {
				t.Errorf("failure file %q (%v), want one paragraph containing %q", b, rerr, want)
			}
			if _, err := os.Stat(filepath.Join(base, "model", "final.ckpt")); err == nil {
				t.Errorf("a failed job wrote model artefacts")
			}
		})
	}
}

func TestTrainOutsideAJob(t *testing.T) {
	t.Setenv(sagemaker.BaseEnv, "")
	if _, err := os.Stat("/opt/ml/input/config"); err == nil {
		t.Fatal("this machine has /opt/ml/input/config: the test cannot tell a job from no job")
	}
	e := &env{Global: &globalOptions{}}
	ok, err := e.trainInJob(context.Background(), func(context.Context, *configs.Config, jobTrain) (string, error) {
		t.Error("train ran outside a job")
		return "", nil
	})
	if ok || err != nil {
		t.Errorf("trainInJob outside a job = %v, %v", ok, err)
	}
}
