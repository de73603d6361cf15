package trainer

import (
	"context"
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/natssl/natssl/configs"
)

// featureChunk is how many images one evaluation graph takes at a time.
const featureChunk = 64

// Encoder is a backbone in evaluation mode (batch norm with its running statistics), for
// extracting features. It is not safe for concurrent use: Clone one per goroutine.
type Encoder struct {
	model  configs.Model
	size   int
	store  *paramStore
	graphs map[[2]int]*evalGraph // by (chunk, side)
}

type evalGraph struct {
	xs   []float32
	feat *G.Node
	vm   G.VM
}

// NewEncoder returns a randomly initialised encoder, initialised exactly as training
// initialises it from the same seed.
func NewEncoder(m configs.Model, imageSize int, seed int64) (*Encoder, error) {
	e := &Encoder{model: m, size: imageSize, store: newParamStore(seed), graphs: map[[2]int]*evalGraph{}}
	if _, err := e.graph(1, imageSize); err != nil { // creates the parameters
		return nil, err
	}
	return e, nil
}

// LoadEncoder reads a checkpoint and returns its encoder in evaluation mode and the config
// the run was trained with.
func LoadEncoder(checkpointPath string) (*Encoder, *configs.Config, error) {
	c, err := ReadCheckpoint(checkpointPath)
	if err != nil {
		return nil, nil, err
	}
	return c.Encoder()
}

// Encoder returns the checkpoint's encoder in evaluation mode and the config the run was
// trained with.
func (c *Checkpoint) Encoder() (*Encoder, *configs.Config, error) {
	cfg, err := c.Config()
	if err != nil {
		return nil, nil, err
	}
	e, err := NewEncoder(cfg.Model, cfg.Data.ImageSize, cfg.Run.Seed)
	if err != nil {
		return nil, nil, err
	}
	if err := restoreModel(e.store, c); err != nil {
		return nil, nil, err
	}
	e.loadStats()
	return e, cfg, nil
}

// Dim is the length of a feature vector: the pooled output of the backbone.
func (e *Encoder) Dim() int { return featureDim(e.model) }

// ImageSize is the side the encoder was trained at (Features accepts any square side).
func (e *Encoder) ImageSize() int { return e.size }

// Clone returns an independent copy, for use on another goroutine.
func (e *Encoder) Clone() (*Encoder, error) {
	return &Encoder{model: e.model, size: e.size, store: e.store.clone(), graphs: map[[2]int]*evalGraph{}}, nil
}

// Features returns the n × Dim pooled features (row-major) of x, n square images in NCHW
// layout normalised as for training (the side is len(x)/(3n), square rooted).
func (e *Encoder) Features(ctx context.Context, x []float32, n int) ([]float32, error) {
	if n <= 0 {
		return nil, nil
	}
	side := int(math.Round(math.Sqrt(float64(len(x)) / float64(3*n))))
	per := 3 * side * side
	if per*n != len(x) {
		return nil, fmt.Errorf("trainer: features: %d values are not %d square 3-channel images", len(x), n)
	}
	d := e.Dim()
	out := make([]float32, n*d)
	chunk := min(n, featureChunk)
	g, err := e.graph(chunk, side)
	if err != nil {
		return nil, err
	}
	for lo := 0; lo < n; lo += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := min(chunk, n-lo)
		copy(g.xs, x[lo*per:(lo+k)*per])
		clear(g.xs[k*per:])
		g.vm.Reset()
		if err := g.vm.RunAll(); err != nil {
			return nil, fmt.Errorf("trainer: features: %w", err)
		}
		copy(out[lo*d:(lo+k)*d], g.feat.Value().Data().([]float32)[:k*d])
	}
	return out, nil
}

// graph returns the evaluation graph for chunk images of the given side, building it once.
func (e *Encoder) graph(chunk, side int) (*evalGraph, error) {
	key := [2]int{chunk, side}
	if g, ok := e.graphs[key]; ok {
		return g, nil
	}
	g := G.NewGraph()
	xs := make([]float32, chunk*3*side*side)
	xt := tensor.New(tensor.WithShape(chunk, 3, side, side), tensor.WithBacking(xs))
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(chunk, 3, side, side), G.WithName("x"), G.WithValue(xt))
	b := &builder{g: g, store: e.store, be: cpuBackend{}, train: false, winograd: true}
	feat, err := b.encoder(e.model, x)
	if err != nil {
		return nil, err
	}
	b.loadBNStats()
	eg := &evalGraph{xs: xs, feat: feat, vm: G.NewTapeMachine(g)}
	e.graphs[key] = eg
	return eg, nil
}

// loadStats pushes the store's batch-norm statistics into every built graph; graphs built
// later read them when built. Rebuilding is simplest: drop the graphs.
func (e *Encoder) loadStats() { e.graphs = map[[2]int]*evalGraph{} }
