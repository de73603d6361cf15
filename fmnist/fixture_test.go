package fmnist

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the committed fixtures made from Fashion-MNIST")

// smokeValDir is the validation suite of the smoke config: two tasks of the validation suite
// natssl data fashion-mnist --per-class 8 writes (seed 0, 8 train + 8 test images per class per
// task, from the training split), as a folder of <id>.jpg.
const smokeValDir = "../configs/smoke/val"

var smokeValTasks = map[string]bool{"fmnist_tshirt_vs_shirt": true, "fmnist_sneaker_vs_ankle_boot": true}

// TestSmokeValFixture checks that configs/smoke/val is what this package builds (-update
// rewrites it), so that the smoke validation suite is a real one, made the documented way.
func TestSmokeValFixture(t *testing.T) {
	train, all, err := BuildValidation(DefaultDir, 0, 8)
	if err != nil {
		t.Fatalf("this test reads Debian's dataset-fashion-mnist (CI installs it): %v", err)
	}
	var rows []SuiteRow
	for _, r := range all {
		if smokeValTasks[r.Task.Name] {
			rows = append(rows, r)
		}
	}
	want := map[string][]byte{}
	var csv bytes.Buffer
	if err := WriteLabelsCSV(&csv, train, rows); err != nil {
		t.Fatal(err)
	}
	want["labels.csv"] = csv.Bytes()
	for _, r := range rows {
		var buf bytes.Buffer
		if err := EncodeJPEG(train, r.Index, 95, &buf); err != nil {
			t.Fatal(err)
		}
		want[filepath.Join("images", train.ID(r.Index)+".jpg")] = buf.Bytes()
	}
	if *update {
		os.RemoveAll(smokeValDir)
		for name, b := range want {
			p := filepath.Join(smokeValDir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ents, err := os.ReadDir(filepath.Join(smokeValDir, "images"))
	if err != nil {
		t.Fatalf("%v (go test ./fmnist -run SmokeVal -update writes it)", err)
	}
	if len(ents) != len(want)-1 {
		t.Errorf("%d images in %s/images, want %d", len(ents), smokeValDir, len(want)-1)
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(smokeValDir, name))
		if err != nil {
			t.Errorf("%v (go test ./fmnist -run SmokeVal -update rewrites it)", err)
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s differs from what BuildSuite makes (go test ./fmnist -run SmokeVal -update rewrites it)", name)
		}
	}
}
