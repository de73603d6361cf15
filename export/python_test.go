package export

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// debianPython is the interpreter that has Debian's python3-onnx, python3-torch and
// python3-torchvision (a python3 earlier on PATH may lack them).
const debianPython = "/usr/bin/python3"

// pythonCheck runs one of the check scripts of testdata and returns its JSON summary.
func pythonCheck(t *testing.T, script string, args ...string) map[string]any {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		t.Fatalf("%s is missing: apt-get install python3-onnx python3-torch python3-torchvision", debianPython)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, append([]string{filepath.Join("testdata", script)}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", script, err, out, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var summary map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil {
		t.Fatalf("%s: summary %q: %v", script, lines[len(lines)-1], err)
	}
	return summary
}

// writeF32 writes values as raw little-endian float32 for the scripts.
func writeF32(t *testing.T, path string, v []float32) string {
	t.Helper()
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// crossCheck exports f's checkpoint (with the head) in format, computes natssl's features
// and projections of a few real images, and hands all of it to a script.
func crossCheck(t *testing.T, f fixture, format Format, script string) map[string]any {
	ckpt := f.checkpoint(t)
	dir := t.TempDir()
	out := filepath.Join(dir, f.name+"."+string(format))
	res, err := Export(context.Background(), ckpt, Options{Format: format, WithHead: true, Version: "test"}, out)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	x, feat := f.natssl(t, n, res.ImageSize)
	return pythonCheck(t, script, out,
		"--input", writeF32(t, filepath.Join(dir, "input.f32"), x),
		"--n", strconv.Itoa(n), "--size", strconv.Itoa(res.ImageSize),
		"--features", writeF32(t, filepath.Join(dir, "features.f32"), feat),
		"--projection", writeF32(t, filepath.Join(dir, "projection.f32"), headOf(t, f.read(t), feat, n)))
}

// TestONNXPython checks every backbone's ONNX file with onnx.checker.check_model and runs
// it with PyTorch's kernels (testdata/onnx_check.py), against natssl's features.
func TestONNXPython(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			s := crossCheck(t, f, ONNX, "onnx_check.py")
			if s["opset"].(float64) != onnxOpset {
				t.Fatalf("summary %v", s)
			}
			t.Logf("%v", s["worst_relative"])
		})
	}
}

// TestSafetensorsTorch loads every backbone's safetensors file into torchvision's model
// (testdata/torch_check.py): torchvision.models.resnet18() and resnet50() themselves at
// width 64, with only fc missing, and compares the features with natssl's.
func TestSafetensorsTorch(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			s := crossCheck(t, f, SafeTensors, "torch_check.py")
			if s["backbone"] != f.model.Backbone || int(s["width"].(float64)) != f.model.Width {
				t.Fatalf("summary %v", s)
			}
			t.Logf("%v, missing %v", s["worst_relative"], s["missing"])
		})
	}
}
