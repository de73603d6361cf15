package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/trainer"
)

// BenchmarkMonitor: one monitor of the demo recipe (the default config) on the demo data,
// which `natssl data fashion-mnist --out data/fmnist` writes at the repository's root.
func BenchmarkMonitor(b *testing.B) {
	root, _ := filepath.Abs("../..")
	cfg, err := configs.Load(configs.Sources{Env: []string{}, Sets: []string{
		"eval.newt_csv=" + filepath.Join(root, "data/fmnist/newt/labels.csv"),
		"eval.images=" + filepath.Join(root, "data/fmnist/newt/images.tar.gz"),
		"eval.monitor_knn=" + filepath.Join(root, "data/fmnist/monitor/images.tar")}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(cfg.Eval.MonitorKNN); err != nil {
		b.Skipf("no demo data (natssl data fashion-mnist --out data/fmnist): %v", err)
	}
	m, err := newMonitor(context.Background(), cfg, Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer m.close()
	enc, err := trainer.NewEncoder(cfg.Model, cfg.Data.ImageSize, cfg.Run.Seed)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		e, _ := enc.Clone()
		if _, err := m.score(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}
