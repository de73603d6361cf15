package export

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/trainer"
)

// TestONNXNeWT scores the smoke NeWT suite twice with the probe, once on natssl's features
// and once on the features gonnx computes from the exported ONNX file, and wants the same
// accuracy on every task: for the plainest backbone and for the one with every operator
// (at a smaller side, as gonnx's direct convolutions are slow under the race detector).
func TestONNXNeWT(t *testing.T) {
	ctx := context.Background()
	suite, err := probe.LoadSuite(newtCSV)
	if err != nil {
		t.Fatal(err)
	}
	images, err := probe.ReadImages(ctx, newtImages, suite.IDs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fixture string
		size    int
	}{{"convnet-small", 0}, {"resnet50", 16}} {
		f := fixtureNamed(t, tc.fixture)
		t.Run(f.name, func(t *testing.T) {
			ckpt := f.checkpoint(t)
			out := filepath.Join(t.TempDir(), f.name+".onnx")
			res, err := Export(ctx, ckpt, Options{Format: ONNX, ImageSize: tc.size}, out)
			if err != nil {
				t.Fatal(err)
			}
			enc, _, err := trainer.LoadEncoder(ckpt)
			if err != nil {
				t.Fatal(err)
			}
			wantF, want := newtResults(t, suite, images, enc, res.ImageSize)
			gotF, got := newtResults(t, suite, images, openGonnx(t, out, featuresName), res.ImageSize)
			compareRows(t, "suite features", gotF.Data, wantF.Data, res.Dim)
			if len(got.Tasks) != len(want.Tasks) || len(want.Tasks) == 0 {
				t.Fatalf("%d tasks, want %d", len(got.Tasks), len(want.Tasks))
			}
			for i, w := range want.Tasks {
				g := got.Tasks[i]
				if g.Task != w.Task || g.Accuracy != w.Accuracy || g.C != w.C {
					t.Errorf("task %s: accuracy %v at C %v from the ONNX file, %v at C %v from natssl", w.Task, g.Accuracy, g.C, w.Accuracy, w.C)
				}
			}
			t.Logf("mean accuracy %.4f (natssl) %.4f (ONNX via gonnx)", want.Mean, got.Mean)
		})
	}
}

func newtResults(t *testing.T, suite *probe.Suite, images *probe.Images, enc probe.Encoder, size int) (*probe.Features, *probe.Results) {
	t.Helper()
	ctx := context.Background()
	pipe, err := augment.New(configs.Default().Augment, size)
	if err != nil {
		t.Fatal(err)
	}
	w := pipe.NewWorker()
	defer w.Close()
	feats, err := probe.Extract(ctx, suite.IDs, images, probe.ExtractOptions{ImageSize: size, BatchSize: 16,
		Workers: []probe.Worker{{Encoder: enc, Preprocessor: w}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := probe.Evaluate(ctx, suite, feats, probe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return feats, res
}
