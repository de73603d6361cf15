package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/sagemaker"
)

// jobTree lays out a SageMaker job's /opt/ml under a temporary base and points
// SAGEMAKER_BASE_DIR at it: the three config files and a train channel of real images.
func jobTree(t *testing.T, hyperparameters string) string {
	t.Helper()
	base := t.TempDir()
	t.Setenv(sagemaker.BaseEnv, base)
	files := map[string]string{
		"input/config/hyperparameters.json": hyperparameters,
		"input/config/resourceconfig.json":  `{"current_host": "algo-1", "hosts": ["algo-1"]}`,
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
	if err := os.CopyFS(filepath.Join(base, "input/data/train"), os.DirFS("../../configs/smoke/train")); err != nil {
		t.Fatal(err)
	}
	return base
}

// TestTrainInJob: natssl train inside a job runs the job (the pipeline's tests cover what a
// job does); its exit code and failure file say how it went.
func TestTrainInJob(t *testing.T) {
	tests := []struct {
		name, hp string
		code     int
		want     string // in stderr
	}{
		{"trains and exports", `{"data.image_size": "16", "model.width": "4", "train.steps": "2"}`, 0, "model artefacts in"},
		{"bad hyperparameter", `{"train.lr": "fast"}`, 2, `hyperparameter "train.lr"): train.lr = "fast": want a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := jobTree(t, tt.hp)
			code, _, stderr := runCLI(t, "train", "--config", "smoke")
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
			}
			_, ferr := os.Stat(filepath.Join(base, "output", "failure"))
			_, merr := os.Stat(filepath.Join(base, "model", sagemaker.ModelCheckpoint))
			if (code == 0) != (ferr != nil) || (code == 0) != (merr == nil) {
				t.Errorf("failure file: %v; model checkpoint: %v", ferr, merr)
			}
		})
	}
}
