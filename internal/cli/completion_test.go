package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/natssl/natssl/experiments"
)

// TestCompletion asks cobra's completion as a shell does (natssl __complete ARGS... PARTIAL)
// and checks the values offered.
func TestCompletion(t *testing.T) {
	path, ids := trackerFixture(t)
	db, err := experiments.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	sweepID, err := db.CreateSweep(context.Background(), experiments.Sweep{Name: "temps"})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"run of runs show", []string{"runs", "show", "--db", path, ""}, []string{"latest\t", "good\t", "crashed\t", ids["good"][:12] + "\t"}, nil},
		{"second argument of runs show", []string{"runs", "show", "--db", path, "good", ""}, nil, []string{"good"}},
		{"runs of report", []string{"report", "--db", path, "good", ""}, []string{"broken\t"}, nil},
		{"eval --run", []string{"eval", "--db", path, "--run", ""}, []string{"good\t"}, nil},
		{"train --resume", []string{"train", "--db", path, "--resume", ""}, []string{"auto", "good\t"}, nil},
		{"a preset", []string{"train", "--config", "sm"}, []string{"smoke\t"}, nil},
		{"a --set key", []string{"train", "--set", "train.opt"}, []string{"train.optimizer="}, nil},
		{"a --set value", []string{"train", "--set", "model.backbone="}, []string{"model.backbone=resnet50", "model.backbone=convnet-small"}, nil},
		{"a bool value", []string{"train", "--set", "data.s3.anonymous="}, []string{"data.s3.anonymous=true"}, nil},
		{"--classifier", []string{"eval", "--classifier", ""}, []string{"linearsvc", "logreg"}, nil},
		{"--status", []string{"runs", "list", "--status", ""}, []string{"stale", "killed"}, nil},
		{"subcommands", []string{"runs", ""}, []string{"watch", "metrics", "delete"}, nil},
		{"export --run", []string{"export", "--db", path, "--run", ""}, []string{"latest\t", "good\t"}, nil},
		{"export --format", []string{"export", "--format", ""}, []string{"onnx", "safetensors"}, nil},
		{"report --sweep", []string{"report", "--db", path, "--sweep", ""}, []string{sweepID[:12] + "\ttemps"}, []string{"good"}},
		{"sweep --resume", []string{"sweep", "--db", path, "--resume", ""}, []string{sweepID[:12] + "\t"}, nil},
		{"sweep --param", []string{"sweep", "--param", "train.temp"}, []string{"train.temperature="}, nil},
		{"a monitor key", []string{"train", "--set", "eval.monitor_k"}, []string{"eval.monitor_knn=", "eval.monitor_knn_images="}, nil},
		{"bench loader --split", []string{"bench", "loader", "--split", ""}, []string{"auto", "sample"}, nil},
		{"data subcommands", []string{"data", ""}, []string{"fashion-mnist", "shard"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"__complete"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			lines := strings.Split(stdout, "\n")
			has := func(w string) bool {
				for _, l := range lines {
					if strings.HasPrefix(l, w) {
						return true
					}
				}
				return false
			}
			for _, w := range tt.want {
				if !has(w) {
					t.Errorf("no completion %q in:\n%s", w, stdout)
				}
			}
			for _, w := range tt.not {
				if has(w) {
					t.Errorf("completion %q offered in:\n%s", w, stdout)
				}
			}
		})
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if code, stdout, _ := runCLI(t, "completion", shell); code != 0 || !strings.Contains(stdout, "natssl") {
			t.Errorf("completion %s: exit %d", shell, code)
		}
	}
}
