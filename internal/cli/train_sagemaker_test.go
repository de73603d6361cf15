package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/sagemaker"
)

// inJob points SAGEMAKER_BASE_DIR at a job folder holding only its hyperparameters (no
// channels: the data of the config's own data.source, here the smoke preset's).
func inJob(t *testing.T, hyperparameters string) string {
	t.Helper()
	base := t.TempDir()
	t.Setenv(sagemaker.BaseEnv, base)
	config := filepath.Join(base, "input", "config")
	if err := os.MkdirAll(config, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(config, "hyperparameters.json"), []byte(hyperparameters), 0o644); err != nil {
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
			base := inJob(t, tt.hp)
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
