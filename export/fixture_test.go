package export

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/loader"
	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/trainer"
)

// The smoke data: images to train on, and a tiny NeWT suite to extract features from.
const (
	smokeImages = "../configs/smoke/train"
	newtCSV     = "../configs/smoke/newt/labels.csv"
	newtImages  = "../configs/smoke/newt/images"
)

// fixture is a checkpoint of a few real training steps (the loader over the smoke images,
// the trainer) of one backbone: weights moved from their initial values and batch-norm
// running statistics away from 0 and 1.
type fixture struct {
	name      string
	model     configs.Model
	trainSize int
	evalSize  int // the export's image size
	optimizer string
	steps     int
	gonnx     bool   // small enough for gonnx's direct convolutions
	method    string // "" : SimCLR
}

// fixtures are the backbones at small widths, plus torchvision's own resnet18 and resnet50
// widths, whose files load into torchvision.models.resnet18() and resnet50() unchanged.
var fixtures = []fixture{
	{name: "convnet-small", model: configs.Model{Backbone: "convnet-small", Width: 4, ProjHidden: 16, ProjDim: 8}, trainSize: 8, evalSize: 16, optimizer: "adamw", steps: 4, gonnx: true},
	{name: "resnet18-cifar", model: configs.Model{Backbone: "resnet18-cifar", Width: 4, ProjHidden: 16, ProjDim: 8}, trainSize: 8, evalSize: 12, optimizer: "adamw", steps: 4, gonnx: true},
	{name: "resnet18", model: configs.Model{Backbone: "resnet18", Width: 4, ProjHidden: 16, ProjDim: 8}, trainSize: 32, evalSize: 36, optimizer: "adamw", steps: 4, gonnx: true},
	{name: "resnet50", model: configs.Model{Backbone: "resnet50", Width: 2, ProjHidden: 16, ProjDim: 8}, trainSize: 32, evalSize: 32, optimizer: "adamw", steps: 4, gonnx: true},
	{name: "resnet18-w64", model: configs.Model{Backbone: "resnet18", Width: 64, ProjHidden: 64, ProjDim: 32}, trainSize: 16, evalSize: 24, optimizer: "sgd", steps: 2},
	{name: "resnet50-w64", model: configs.Model{Backbone: "resnet50", Width: 64, ProjHidden: 64, ProjDim: 32}, trainSize: 16, evalSize: 16, optimizer: "sgd", steps: 2},
}

var (
	fixtureDir string
	fixtureMu  sync.Mutex
	trained    = map[string]string{}
	// Reading a checkpoint and running natssl's encoder is most of the cost of the
	// full-width fixtures (a resnet50 checkpoint is ~190 MB), so each is done once.
	readCkpts = map[string]*trainer.Checkpoint{}
	features  = map[string][2][]float32{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natssl-export-test-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureDir = dir
	code := func() int {
		defer os.RemoveAll(dir)
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkpoint returns the path of f's checkpoint, training it on first use.
func (f fixture) checkpoint(t testing.TB) string {
	t.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if p, ok := trained[f.name]; ok {
		return p
	}
	ctx := context.Background()
	cfg := configs.Default()
	cfg.Run.Seed = 11
	cfg.Data.ImageSize = f.trainSize
	cfg.Data.BatchSize = 8
	cfg.Model = f.model
	cfg.Train.Steps = f.steps
	cfg.Train.WarmupSteps = 1
	cfg.Train.Devices = []string{"cpu"}
	cfg.Train.Optimizer = f.optimizer
	cfg.Train.LR = 0.05
	cfg.Train.CheckpointEvery = 0
	cfg.Train.KeepCheckpoints = 1
	cfg.Train.TimeLimit = 0
	cfg.Eval.ImageSize = f.evalSize
	if f.method != "" {
		cfg.Method.Name = f.method
		cfg.Method.QueueSize = 16
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	src, err := loader.OpenFolder(smokeImages)
	if err != nil {
		t.Fatal(err)
	}
	l, err := loader.New(ctx, src, loader.Options{Seed: cfg.Run.Seed, ImageSize: f.trainSize, BatchSize: 8,
		Workers: 2, ShuffleBuffer: 16, Augment: cfg.Augment})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := trainer.Train(ctx, trainer.Options{Config: cfg, Source: loaderSource{l},
		CheckpointDir: filepath.Join(fixtureDir, f.name), RunID: "run-" + f.name})
	if err != nil {
		t.Fatalf("train %s: %v", f.name, err)
	}
	trained[f.name] = res.Checkpoint
	return res.Checkpoint
}

func fixtureNamed(t testing.TB, name string) fixture {
	for _, f := range fixtures {
		if f.name == name {
			return f
		}
	}
	t.Fatalf("no fixture %s", name)
	return fixture{}
}

// loaderSource feeds the trainer from a loader.
type loaderSource struct{ l *loader.Loader }

func (s loaderSource) Next(ctx context.Context) (*trainer.Batch, error) {
	b, err := s.l.Next(ctx)
	if err != nil {
		return nil, err
	}
	return &trainer.Batch{N: b.N, Size: b.Size, Epoch: b.Epoch, Views: b.Views, Release: func() { s.l.Release(b) }}, nil
}

func (s loaderSource) Position() trainer.Position { return trainer.Position(s.l.Position()) }

// evalViews are the first n images of the smoke NeWT suite (sorted by id) as natssl's
// evaluation view at the given side: n × 3 × size × size, NCHW.
func evalViews(t testing.TB, n, size int) []float32 {
	t.Helper()
	suite, err := probe.LoadSuite(newtCSV)
	if err != nil {
		t.Fatal(err)
	}
	ids := append([]string(nil), suite.IDs...)
	sort.Strings(ids)
	ids = ids[:n]
	images, err := probe.ReadImages(context.Background(), newtImages, ids)
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := augment.New(configs.Default().Augment, size)
	if err != nil {
		t.Fatal(err)
	}
	w := pipe.NewWorker()
	defer w.Close()
	per := 3 * size * size
	x := make([]float32, n*per)
	for i, id := range ids {
		if err := w.EvalView(images.Data[id], size, x[i*per:(i+1)*per]); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

// read returns f's checkpoint, read once.
func (f fixture) read(t testing.TB) *trainer.Checkpoint {
	t.Helper()
	path := f.checkpoint(t)
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if c, ok := readCkpts[f.name]; ok {
		return c
	}
	c, err := trainer.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	readCkpts[f.name] = c
	return c
}

// natssl returns the first n smoke NeWT images in their evaluation view at the given side
// (evalViews) and natssl's own features of them: the checkpoint's encoder in evaluation
// mode, trainer.Encoder.
func (f fixture) natssl(t testing.TB, n, size int) (x, feat []float32) {
	t.Helper()
	path := f.checkpoint(t)
	key := fmt.Sprintf("%s/%d/%d", f.name, n, size)
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if v, ok := features[key]; ok {
		return v[0], v[1]
	}
	x = evalViews(t, n, size)
	enc, _, err := trainer.LoadEncoder(path)
	if err != nil {
		t.Fatal(err)
	}
	feat, err = enc.Features(context.Background(), x, n)
	if err != nil {
		t.Fatal(err)
	}
	features[key] = [2][]float32{x, feat}
	return x, feat
}

// relTol is how close another runtime's features must be to natssl's.
const relTol = 1e-4

// compareRows checks that every row of got is within relTol of want's row, relative to
// the row's largest magnitude: max|got−want| ≤ relTol·max|want|.
func compareRows(t testing.TB, what string, got, want []float32, dim int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for r := 0; r < len(want)/dim; r++ {
		var scale, diff float64
		for j := r * dim; j < (r+1)*dim; j++ {
			scale = math.Max(scale, math.Abs(float64(want[j])))
			diff = math.Max(diff, math.Abs(float64(got[j]-want[j])))
		}
		if scale == 0 || math.IsNaN(diff) || diff > relTol*scale {
			t.Fatalf("%s: row %d differs by %.3g (largest feature %.3g, allowed %.3g)", what, r, diff, scale, relTol*scale)
		}
	}
}
