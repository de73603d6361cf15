package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/probe"
)

// TestDataFashionMNIST converts a few of Debian's Fashion-MNIST images (OUT and EMPTY stand for
// the output folder and an empty one).
func TestDataFashionMNIST(t *testing.T) {
	cases := []struct {
		name, contains string
		args           []string
		code           int
	}{
		{"the default --out: where the default config reads", "the default config reads all four", []string{"data", "fashion-mnist", "--train-limit", "30", "--per-class", "4", "--shards", "2"}, 0},
		{"empty --out", "--out DIR must not be empty", []string{"data", "fashion-mnist", "--out", ""}, 2},
		{"package missing", "sudo apt-get install dataset-fashion-mnist", []string{"data", "fashion-mnist", "--out", "OUT", "--from", "EMPTY"}, 1},
		{"small", `"root_pattern":"OUT/train-{000..001}.tar"`, []string{"data", "fashion-mnist", "--out", "OUT", "--train-limit", "30", "--per-class", "4", "--shards", "2", "--json"}, 0},
		{"monitor set", `"monitor_tar":"OUT/monitor/images.tar","monitor_images":50`, []string{"data", "fashion-mnist", "--out", "OUT", "--train-limit", "30", "--per-class", "4", "--monitor-per-class", "5", "--json"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "fm")
			if !strings.Contains(strings.Join(c.args, " "), "--out") {
				t.Chdir(dir)
				out = filepath.Join(dir, "data", "fmnist")
			}
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = strings.NewReplacer("OUT", out, "EMPTY", dir).Replace(a)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, stderr.String())
			}
			got := stdout.String() + stderr.String()
			if want := strings.ReplaceAll(c.contains, "OUT", out); !strings.Contains(got, want) {
				t.Errorf("output %q, want it to contain %q", got, want)
			}
			if code == 0 {
				s, err := probe.LoadSuite(filepath.Join(out, "newt", "labels.csv"))
				if err != nil {
					t.Fatal(err)
				}
				if len(s.Tasks) != 10 || s.Len() != 160 {
					t.Errorf("suite: %d tasks, %d images", len(s.Tasks), s.Len())
				}
				v, err := probe.LoadSuite(filepath.Join(out, "val", "labels.csv"))
				if err != nil || len(v.Tasks) != 10 || v.Len() != 160 {
					t.Errorf("validation suite: %v", err)
				}
				if _, err := os.Stat(filepath.Join(out, "train.json")); err != nil {
					t.Error(err)
				}
			}
		})
	}
}
