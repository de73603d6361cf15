package configs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary YAML and --set strings through the layering and validation: any input
// must give a *Config or *Errors, never a panic.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "train.lr=0.1")
	}
	f.Add("train: {devices: [cpu, cuda:0]}", "augment.crop_scale=[0.1,0.5]")
	f.Add("", "train.steps=ten")
	f.Add("- a\n- b\n", "=")
	f.Add("augment:\n  jitter: [1,2]\n", "train.time_limit=1h")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, yamlText, set string) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, []byte(yamlText), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(Sources{File: p, Env: []string{}, Sets: []string{set}})
		var errs *Errors
		switch {
		case err == nil && c == nil:
			t.Fatal("nil config without error")
		case err != nil && !errors.As(err, &errs):
			t.Fatalf("error of type %T: %v", err, err)
		case err == nil:
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Load returned a config that does not validate: %v", verr)
			}
		}
	})
}
