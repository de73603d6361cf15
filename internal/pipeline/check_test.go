package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
)

// TestTrainRefusesMissingData: a data.source that names nothing (a typo, an empty folder, a
// relative path read from another folder) is refused as a config error before a run exists.
func TestTrainRefusesMissingData(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	tests := []struct {
		name, source string
		want         []string
	}{
		{"typo", filepath.Join(dir, "photso"), []string{"no such folder"}},
		{"empty folder", empty, []string{"holds no .jpg"}},
		{"relative path", "data/fmnist/train.json", []string{"no such file", "read from the current folder, " + dir, "natssl data fashion-mnist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smokeConfig(t, dir, "data.source="+tt.source)
			_, err := Train(context.Background(), cfg, TrainOptions{}, nil)
			var ce *configs.Errors
			if !errors.As(err, &ce) {
				t.Fatalf("err %v (%T), want *configs.Errors", err, err)
			}
			for _, w := range append(tt.want, "--set data.source="+tt.source) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, err := os.Stat(cfg.Run.DB); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the tracker was created (%v): a refused run must leave nothing", err)
			}
		})
	}
}
