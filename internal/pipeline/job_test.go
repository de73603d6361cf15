package pipeline

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/mpi"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/sagemaker"
)

// jobTree lays out a SageMaker job's /opt/ml under a temporary base, as SageMaker does: the
// three config files, a train channel of real images and, unless noNewt, a newt channel
// holding a NeWT-layout suite.
func jobTree(t *testing.T, hyperparameters, resourceConfig string, noNewt bool) string {
	t.Helper()
	base := t.TempDir()
	channels := `{"train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}`
	if !noNewt {
		channels += `, "newt": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated"}`
	}
	files := map[string]string{
		"input/config/hyperparameters.json": hyperparameters,
		"input/config/resourceconfig.json":  resourceConfig,
		"input/config/inputdataconfig.json": channels + "}",
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
	copyTree(t, "../../configs/smoke/train", filepath.Join(base, "input/data/train"))
	if !noNewt {
		copyTree(t, "../../configs/smoke/newt", filepath.Join(base, "input/data/newt"))
	}
	return base
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

const oneHost = `{"current_host": "algo-1", "hosts": ["algo-1"]}`

// smokeJob is the smoke preset, quick, as the image's config under the hyperparameters.
var smokeJob = configs.Sources{File: "smoke", Env: []string{}}

// TestRunJob: the job's hyperparameters reach training and the evaluation of the final
// checkpoint alike (one config, resolved once), and the model artefacts are written.
func TestRunJob(t *testing.T) {
	base := jobTree(t, `{"train.steps": "3", "data.image_size": "16", "model.width": "4",
		"eval.classifier": "logreg", "eval.image_size": "16", "sagemaker_program": "\"x\""}`, oneHost, false)
	// A failure file from an earlier attempt must not survive a success.
	if err := os.MkdirAll(filepath.Join(base, "output"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "output", "failure"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	res, err := RunJob(context.Background(), JobOptions{Base: base, Config: smokeJob}, rec)
	if err != nil {
		t.Fatalf("%v; notices %q", err, rec.notices)
	}
	cfg := res.Config
	if cfg.Train.Steps != 3 || cfg.Model.Width != 4 || res.Train.Step != 3 {
		t.Errorf("hyperparameters not applied to training: steps %d (trained %d), width %d", cfg.Train.Steps, res.Train.Step, cfg.Model.Width)
	}
	if cfg.Data.Source != filepath.Join(base, "input/data/train") || cfg.Run.OutDir != filepath.Join(base, "checkpoints") {
		t.Errorf("source %s out_dir %s", cfg.Data.Source, cfg.Run.OutDir)
	}
	ev := res.Eval
	if ev == nil {
		t.Fatalf("no evaluation; notices %q", rec.notices)
	}
	if ev.Classifier != probe.LogReg || ev.ImageSize != 16 {
		t.Errorf("evaluation ran %s at %d px, want the hyperparameters' logreg at 16 px", ev.Classifier, ev.ImageSize)
	}
	if ev.RunID != res.Train.RunID || ev.CheckpointStep != 3 || ev.Source != res.Train.Checkpoint {
		t.Errorf("evaluation recorded against %s step %d (%s), want the job's run %s at step 3", ev.RunID, ev.CheckpointStep, ev.Source, res.Train.RunID)
	}
	if want := filepath.Join(base, "input/data/newt"); !strings.HasPrefix(cfg.Eval.NewtCSV, want) || !strings.HasPrefix(cfg.Eval.Images, want) {
		t.Errorf("suite %s, %s: want the newt channel's", cfg.Eval.NewtCSV, cfg.Eval.Images)
	}
	for _, name := range []string{sagemaker.ModelCheckpoint, sagemaker.ModelConfig, sagemaker.ModelDB} {
		if _, err := os.Stat(filepath.Join(base, "model", name)); err != nil {
			t.Errorf("model artefact: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "output", "failure")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failure file after a success: %v", err)
	}
	db, err := experiments.Open(context.Background(), filepath.Join(base, "model", sagemaker.ModelDB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sums, err := db.EvalSummaries(context.Background(), res.Train.RunID, experiments.SuiteNeWT, experiments.MetricAccuracy)
	if err != nil || len(sums) != 1 || sums[0].CheckpointStep != 3 {
		t.Errorf("evaluations in the exported database: %+v, %v", sums, err)
	}
}

// TestRunJobRestart: a job restarted on the same volume (a spot interruption) continues the
// run its checkpoint folder holds.
func TestRunJobRestart(t *testing.T) {
	base := jobTree(t, `{"data.image_size": "16", "model.width": "4", "train.checkpoint_every": "2"}`, oneHost, true)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := RunJob(ctx, JobOptions{Base: base, Config: smokeJob}, &recorder{stopAt: 2, cancel: cancel})
	cancel()
	if err == nil || !strings.Contains(err.Error(), "stopped by a signal") {
		t.Fatalf("interrupted job: err %v", err)
	}
	// As an instance reclaimed without warning leaves it: RUNNING, a fresh heartbeat, another
	// host. The restarted job knows that process is gone.
	dbs, _ := filepath.Glob(filepath.Join(base, "checkpoints", "*.db"))
	if len(dbs) != 1 {
		t.Fatalf("tracker databases %v", dbs)
	}
	if out, err := exec.Command("sqlite3", dbs[0], `UPDATE runs SET status = 'RUNNING', host = 'algo-1-old', pid = 4242, heartbeat_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v: %s", err, out)
	}
	rec := &recorder{}
	res, err := RunJob(context.Background(), JobOptions{Base: base, Config: smokeJob}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.started) != 1 || rec.started[0].Resumed == nil || rec.started[0].Resumed.Header.Step != 2 || res.Train.Step != 6 {
		t.Fatalf("restart: %+v resumed from %+v", res.Train, rec.started)
	}
}

// severalHosts is how RunJob, as SageMaker starts it on the first host, fails without the
// command line of the ranks, or without MPI.
var severalHosts = map[bool]string{
	true:  "sagemaker: a job of several hosts needs the command its ranks run",
	false: "sagemaker: a job of 2 hosts trains one model over MPI, but this natssl was built without MPI",
}[mpi.Compiled]

func TestRunJobFailures(t *testing.T) {
	tests := []struct {
		name, hp, hosts string
		emptyTrain      bool
		fewTrain        bool // a train channel of two images: less than one batch
		want            string
		config          bool // the error is the config's (*configs.Errors)
	}{
		{name: "bad hyperparameter", hp: `{"train.lr": "fast"}`, hosts: oneHost, config: true,
			want: `config: %BASE%/input/config/hyperparameters.json (hyperparameter "train.lr"): train.lr = "fast": want a number`},
		{name: "unknown hyperparameter", hp: `{"train.steps": "5", "trian.lr": "0.1"}`, hosts: oneHost, config: true,
			want: `trian.lr = "0.1": unknown key (did you mean train.lr?)`},
		{name: "hyperparameters not JSON", hp: `{"train.lr": 0.1,}`, hosts: oneHost, want: `hyperparameters.json:1: not valid JSON`},
		// The first of several hosts starts the MPI job over all (the cli's tests run one);
		// a build without MPI refuses.
		{name: "several hosts", hp: `{}`, hosts: `{"current_host": "algo-1", "hosts": ["algo-2", "algo-1"]}`, want: severalHosts},
		{name: "empty train channel", hp: `{"data.image_size": "16", "model.width": "4"}`, hosts: oneHost, emptyTrain: true, config: true,
			want: "holds no .jpg, .jpeg or .png images"},
		{name: "training fails", hp: `{"data.image_size": "16", "model.width": "4"}`, hosts: oneHost, emptyTrain: true, fewTrain: true,
			want: "two epochs went by without one full batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := jobTree(t, tt.hp, tt.hosts, true)
			if tt.emptyTrain {
				train := filepath.Join(base, "input/data/train")
				if err := os.RemoveAll(train); err != nil || os.Mkdir(train, 0o755) != nil {
					t.Fatal(err)
				}
				if tt.fewTrain {
					imgs, _ := filepath.Glob("../../configs/smoke/train/*/*.jpg")
					for _, p := range imgs[:2] {
						b, err := os.ReadFile(p)
						if err != nil || os.WriteFile(filepath.Join(train, filepath.Base(p)), b, 0o644) != nil {
							t.Fatal("cannot write the train channel")
						}
					}
				}
			}
			_, err := RunJob(context.Background(), JobOptions{Base: base, Config: smokeJob}, nil)
			var ce *configs.Errors
			if err == nil || errors.As(err, &ce) != tt.config {
				t.Fatalf("err %v (%T); want a failure, from the config: %v", err, err, tt.config)
			}
			b, rerr := os.ReadFile(filepath.Join(base, "output", "failure"))
			want := strings.ReplaceAll(tt.want, "%BASE%", base)
			if rerr != nil || !strings.Contains(string(b), want) || strings.Count(string(b), "\n") != 1 {
				t.Errorf("failure file %q (%v), want one paragraph containing %q", b, rerr, want)
			}
			if _, err := os.Stat(filepath.Join(base, "model", sagemaker.ModelCheckpoint)); err == nil {
				t.Errorf("a failed job wrote model artefacts")
			}
		})
	}
}
