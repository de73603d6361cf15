package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestEvaluateParallelEqualsSerial(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, f := syntheticSuite(7, 30, 12, 3)
	for _, kind := range []Classifier{LinearSVC, LogReg} {
		serial, err := Evaluate(context.Background(), s, f, Options{Classifier: kind, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []int{2, 4, 16} {
			par, err := Evaluate(context.Background(), s, f, Options{Classifier: kind, Workers: w})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(serial, par) {
				t.Errorf("%s with %d workers differs from serial:\n%+v\n%+v", kind, w, par, serial)
			}
		}
		if serial.Mean < 0.6 {
			t.Errorf("%s: mean accuracy %.3f on separable-ish synthetic tasks", kind, serial.Mean)
		}
	}
}

func TestEvaluateSummary(t *testing.T) {
	s, f := syntheticSuite(4, 30, 6, 5)
	s.Tasks[3].Subcluster = ""
	r, err := Evaluate(context.Background(), s, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Clusters) != 3 || r.Clusters[0].Name != "c0" || r.Clusters[0].Tasks != 2 {
		t.Errorf("clusters %+v, want c0 (2 tasks), c1, c2", r.Clusters)
	}
	if len(r.Subclusters) != 2 || r.Subclusters[0].Tasks+r.Subclusters[1].Tasks != 3 {
		t.Errorf("subclusters %+v, want s0 and s1 over the 3 tasks that have one", r.Subclusters)
	}
	want := (r.Tasks[0].Accuracy + r.Tasks[1].Accuracy + r.Tasks[2].Accuracy + r.Tasks[3].Accuracy) / 4
	if r.Mean != want {
		t.Errorf("mean %v, want %v", r.Mean, want)
	}
	for _, tr := range r.Tasks {
		if tr.NTrain != 30 || tr.NTest != 30 || tr.C < 1e-4 || tr.C > 1000 {
			t.Errorf("task %+v", tr)
		}
	}
}

func TestEvaluateErrors(t *testing.T) {
	s, f := syntheticSuite(2, 6, 3, 1)
	short := &Features{IDs: f.IDs[:len(f.IDs)-1], Dim: f.Dim, Data: f.Data[:len(f.Data)-f.Dim]}
	if _, err := Evaluate(context.Background(), s, short, Options{}); err == nil || !strings.Contains(err.Error(), "has no feature row") {
		t.Errorf("missing feature row: error %v", err)
	}
	tiny, tf := syntheticSuite(1, 4, 3, 1) // 2 train rows per label
	if _, err := Evaluate(context.Background(), tiny, tf, Options{}); err == nil || !strings.Contains(err.Error(), "3-fold cross-validation needs 3") {
		t.Errorf("too few rows for CV: error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, s, f, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v", err)
	}
}

func TestNPYRoundTrip(t *testing.T) {
	f := &Features{IDs: []string{"a", "b", "c"}, Dim: 2, Data: []float32{1, -2.5, 3e-8, 4, 0, 1e30}}
	p := filepath.Join(t.TempDir(), "feat.npy")
	if err := WriteNPY(p, f); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	if hl := int(raw[8]) | int(raw[9])<<8; (10+hl)%64 != 0 || !bytes.Contains(raw[:10+hl], []byte("'shape': (3, 2)")) {
		t.Errorf("header %q is not 64-byte aligned with shape (3, 2)", raw[:10+hl])
	}
	got, err := ReadNPY(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f) {
		t.Errorf("read back %+v, want %+v", got, f)
	}
	if b, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "feat.ids.txt")); string(b) != "a\nb\nc\n" {
		t.Errorf("ids file %q", b)
	}
}

// grayPixels is a model-free Encoder/Preprocessor pair over real JPEGs: the eval view is the
// decoded image resized by nearest neighbour, and the features are its first channel pooled
// to 4x4.
type grayPixels struct{ calls int }

func (g *grayPixels) EvalView(data []byte, size int, dst []float32) error {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	b := img.Bounds()
	for c := 0; c < 3; c++ {
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				r, _, _, _ := img.At(b.Min.X+x*b.Dx()/size, b.Min.Y+y*b.Dy()/size).RGBA()
				dst[(c*size+y)*size+x] = float32(r) / 65535
			}
		}
	}
	return nil
}

func (g *grayPixels) Dim() int { return 16 }

func (g *grayPixels) Features(_ context.Context, x []float32, n int) ([]float32, error) {
	g.calls++
	size := 16
	out := make([]float32, n*16)
	for i := 0; i < n; i++ {
		img := x[i*3*size*size:]
		for y := 0; y < size; y++ {
			for xx := 0; xx < size; xx++ {
				out[i*16+(y/4)*4+xx/4] += img[y*size+xx] / 16
			}
		}
	}
	return out, nil
}

var _ Encoder = (*grayPixels)(nil)
var _ Preprocessor = (*grayPixels)(nil)

func TestExtractOnSmokeSuite(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, err := LoadSuite("../configs/smoke/newt/labels.csv")
	if err != nil {
		t.Fatal(err)
	}
	im, err := ReadImages(context.Background(), smokeImages, s.IDs)
	if err != nil {
		t.Fatal(err)
	}
	one := &grayPixels{}
	serial, err := Extract(context.Background(), s.IDs, im, ExtractOptions{ImageSize: 16, BatchSize: 5, Workers: []Worker{{one, one}}})
	if err != nil {
		t.Fatal(err)
	}
	if one.calls != 13 { // 64 images in batches of 5
		t.Errorf("%d Features calls, want 13", one.calls)
	}
	var workers []Worker
	for i := 0; i < 3; i++ {
		g := &grayPixels{}
		workers = append(workers, Worker{g, g})
	}
	last := 0
	par, err := Extract(context.Background(), s.IDs, im, ExtractOptions{ImageSize: 16, BatchSize: 7, Workers: workers,
		Progress: func(done, total int) { last = done }})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(serial, par) || last != 64 {
		t.Errorf("3 workers give different features (or progress ended at %d)", last)
	}
	res, err := Evaluate(context.Background(), s, par, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mean < 0.7 {
		t.Errorf("pixel features score %.3f on the smoke suite (T-shirt vs shirt, sneaker vs boot)", res.Mean)
	}

	// A corrupt image stops the extraction with an error naming it.
	im.Data[s.IDs[9]] = []byte("not a jpeg")
	if _, err := Extract(context.Background(), s.IDs, im, ExtractOptions{ImageSize: 16, Workers: workers}); err == nil || !strings.Contains(err.Error(), s.IDs[9]) {
		t.Errorf("corrupt image: error %v, want one naming %s", err, s.IDs[9])
	}
}

func TestWriteTable(t *testing.T) {
	r := &Results{Classifier: LinearSVC, Tasks: []TaskResult{
		{Task: "ta", Cluster: "appearance", Subcluster: "species", NTrain: 50, NTest: 40, C: 0.1, Accuracy: 0.75},
		{Task: "tb", Cluster: "behavior", NTrain: 60, NTest: 30, C: 1000, Accuracy: 0.5, NotConverged: 2},
	}}
	r.summarise()
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"task  cluster     subcluster  n_train  n_test  C     accuracy",
		"ta    appearance  species     50       40      0.1   0.7500",
		"tb    behavior    -           60       30      1000  0.5000",
		"mean per subcluster:\n  species  1 tasks  0.7500",
		"mean per cluster:\n  appearance  1 tasks  0.7500",
		"2 fits reached the iteration limit",
		"mean accuracy over 2 tasks (linearsvc): 0.6250",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestEvaluatePredictions checks the per-image outcomes: one per test image in the suite's
// order, the accuracy their share of right answers, and the predictions the classifier's own
// (the same when the test labels are flipped, which flips every outcome).
func TestEvaluatePredictions(t *testing.T) {
	s, f := syntheticSuite(5, 30, 12, 9)
	res, err := Evaluate(context.Background(), s, f, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	flipped := &Suite{Name: s.Name, IDs: s.IDs}
	for _, task := range s.Tasks {
		ft := *task
		ft.Test = nil
		for _, smp := range task.Test {
			smp.Label = 1 - smp.Label
			ft.Test = append(ft.Test, smp)
		}
		flipped.Tasks = append(flipped.Tasks, &ft)
	}
	fres, err := Evaluate(context.Background(), flipped, f, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	wrong := 0
	for i, r := range res.Tasks {
		task := s.Tasks[i]
		if len(r.Predictions) != len(task.Test) || len(r.Predictions) != r.NTest {
			t.Fatalf("%s: %d predictions for %d test images", r.Task, len(r.Predictions), len(task.Test))
		}
		k := 0
		for j, p := range r.Predictions {
			smp := task.Test[j]
			if p.ID != smp.ID || p.Label != smp.Label || (p.Predicted != 0 && p.Predicted != 1) {
				t.Fatalf("%s: prediction %d is %+v for test sample %+v", r.Task, j, p, smp)
			}
			if p.Correct() {
				k++
			} else {
				wrong++
			}
			fp := fres.Tasks[i].Predictions[j]
			if fp.Predicted != p.Predicted || fp.Correct() == p.Correct() {
				t.Errorf("%s %s: prediction %+v with flipped test labels, %+v without", r.Task, p.ID, fp, p)
			}
		}
		if got := float64(k) / float64(len(r.Predictions)); got != r.Accuracy {
			t.Errorf("%s: %d of %d right is %v, accuracy says %v", r.Task, k, len(r.Predictions), got, r.Accuracy)
		}
	}
	if wrong == 0 {
		t.Error("every prediction right on noisy synthetic tasks: the outcomes say nothing")
	}
}
