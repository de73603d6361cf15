package configs

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNonFiniteRefused: infinity and NaN are refused from every layer (YAML's .inf and .nan,
// --set, the environment, hyperparameters, list items, Set) naming the key and the origin.
func TestNonFiniteRefused(t *testing.T) {
	tests := []struct {
		name string
		src  Sources
		yaml string
		want []string
	}{
		{"YAML .inf", Sources{}, "train:\n  temperature: .inf\n", []string{"run.yaml:2", "train.temperature", "finite"}},
		{"YAML -.inf", Sources{}, "train:\n  weight_decay: -.inf\n", []string{"run.yaml:2", "train.weight_decay", "finite"}},
		{"YAML .nan", Sources{}, "train:\n  lr: .nan\n", []string{"run.yaml:2", "train.lr", "finite"}},
		{"--set +Inf", Sources{Sets: []string{"train.lr=+Inf"}}, "", []string{"--set train.lr=+Inf", "finite"}},
		{"--set inf", Sources{Sets: []string{"train.temperature=inf"}}, "", []string{"--set train.temperature=inf", "finite"}},
		{"--set NaN", Sources{Sets: []string{"augment.flip_p=NaN"}}, "", []string{"augment.flip_p", "finite"}},
		{"--set list item", Sources{Sets: []string{"augment.crop_scale=[0.2, .inf]"}}, "", []string{"augment.crop_scale", "item 1", "finite"}},
		{"env", Sources{Env: []string{"NATSSL_TRAIN_TEMPERATURE=Infinity"}}, "", []string{"env NATSSL_TRAIN_TEMPERATURE", "finite"}},
		{"hyperparameter", Sources{Hyperparameters: map[string]string{"train.lr": "-inf"}}, "", []string{`hyperparameter "train.lr"`, "finite"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src.Env == nil {
				src.Env = []string{}
			}
			if tt.yaml != "" {
				src.File = writeFile(t, "run.yaml", tt.yaml)
			}
			_, err := Load(src)
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load() = %v, want *Errors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	t.Run("Set", func(t *testing.T) {
		c := Default()
		if err := c.Set("train.lr", math.Inf(1), "job"); err == nil || !strings.Contains(err.Error(), "finite") {
			t.Errorf("Set(+Inf) = %v, want a finite-number error", err)
		}
	})
	t.Run("Validate", func(t *testing.T) {
		c := Default()
		c.Train.Temperature = math.Inf(1)
		c.Augment.Blur.Sigma[1] = math.NaN()
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "train.temperature") || !strings.Contains(err.Error(), "augment.blur.sigma") {
			t.Errorf("Validate() = %v, want train.temperature and augment.blur.sigma refused", err)
		}
	})
}

// TestUpperBounds: sizes that could only be typos, and would exhaust memory, are refused by
// validation, naming the key and the bound.
func TestUpperBounds(t *testing.T) {
	tests := []struct {
		set, key string
	}{
		{"model.width=100000", "model.width"},
		{"model.proj_dim=1e9", "model.proj_dim"},
		{"model.proj_hidden=1000000", "model.proj_hidden"},
		{"data.batch_size=2e9", "data.batch_size"},
		{"data.workers=100000", "data.workers"},
		{"data.image_size=100000", "data.image_size"},
		{"data.shuffle_buffer=1000000000", "data.shuffle_buffer"},
		{"data.max_image_bytes=1000000000000", "data.max_image_bytes"},
		{"eval.image_size=50000", "eval.image_size"},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			src := Sources{Env: []string{}, Sets: []string{tt.set}}
			if strings.HasPrefix(tt.set, "model.proj_dim=") || strings.HasPrefix(tt.set, "data.batch_size=") {
				// YAML-typed numbers as a config file writes them.
				body := strings.Replace(tt.set, ".", ":\n  ", 1)
				body = strings.Replace(body, "=", ": ", 1)
				src = Sources{Env: []string{}, File: writeFile(t, "run.yaml", body+"\n")}
			}
			_, err := Load(src)
			if err == nil || !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), "at most") {
				t.Errorf("Load(%s) = %v, want %s refused with its upper bound", tt.set, err, tt.key)
			}
		})
	}
	if _, err := Load(Sources{Env: []string{}, Sets: []string{"model.width=1024", "data.batch_size=65536", "data.workers=1024"}}); err != nil {
		t.Errorf("the bounds themselves are refused: %v", err)
	}
}

// TestConfigFileNotRegular: --config naming a device, a FIFO or a file over MaxConfigBytes is
// refused at once, naming it, without reading it.
func TestConfigFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "run.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), MaxConfigBytes/10+1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{"/dev/zero", "not a regular file"},
		{fifo, "not a regular file"},
		{big, "over the limit"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Load(Sources{File: tt.path, Env: []string{}}); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("--config %s: %v, want %q naming it", tt.path, err, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("--config %s blocked", tt.path)
		}
	}
}
