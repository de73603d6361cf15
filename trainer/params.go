package trainer

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// paramKind says how a parameter is initialised and whether LARS adapts and decays it.
type paramKind int

const (
	kindWeight  paramKind = iota // conv or linear weight: adapted and decayed
	kindBias                     // linear bias: excluded from LARS adaptation and weight decay
	kindBNScale                  // batch-norm γ: excluded
	kindBNShift                  // batch-norm β: excluded
)

// excluded reports whether LARS adaptation and weight decay skip the parameter, as SimCLR's
// reference does for batch-norm and bias parameters.
func (k paramKind) excluded() bool { return k != kindWeight }

// param is one learnable tensor. Its value is shared by every replica graph.
type param struct {
	name  string
	kind  paramKind
	fanIn int
	value *tensor.Dense
}

func (p *param) data() []float32 { return p.value.Data().([]float32) }

// bnStats are the running statistics of one batch-norm layer (not learnable, but part of
// the model: evaluation normalises with them).
type bnStats struct {
	name     string
	mean, vr []float32
	channels int
}

// paramStore holds a model's parameters and batch-norm statistics in build order. The first
// build of a graph creates them (initialised from the seed); later builds find them by name.
type paramStore struct {
	seed   int64
	params []*param
	byName map[string]*param
	bns    []*bnStats
	bnByNm map[string]*bnStats
}

func newParamStore(seed int64) *paramStore {
	return &paramStore{seed: seed, byName: map[string]*param{}, bnByNm: map[string]*bnStats{}}
}

// get returns the named parameter, creating and initialising it on first use.
func (s *paramStore) get(name string, kind paramKind, fanIn int, shape ...int) *param {
	if p, ok := s.byName[name]; ok {
		if !p.value.Shape().Eq(tensor.Shape(shape)) {
			panic(fmt.Sprintf("trainer: parameter %s has shape %v, built again as %v", name, p.value.Shape(), shape))
		}
		return p
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	initParam(data, kind, fanIn, s.seed, name)
	p := &param{name: name, kind: kind, fanIn: fanIn,
		value: tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))}
	s.params = append(s.params, p)
	s.byName[name] = p
	return p
}

// bn returns the named batch-norm statistics, creating them (mean 0, variance 1) on first use.
func (s *paramStore) bn(name string, channels int) *bnStats {
	if b, ok := s.bnByNm[name]; ok {
		return b
	}
	b := &bnStats{name: name, channels: channels, mean: make([]float32, channels), vr: make([]float32, channels)}
	for i := range b.vr {
		b.vr[i] = 1
	}
	s.bns = append(s.bns, b)
	s.bnByNm[name] = b
	return b
}

// numParams is the number of learnable scalars.
func (s *paramStore) numParams() int {
	n := 0
	for _, p := range s.params {
		n += len(p.data())
	}
	return n
}

// clone deep-copies values and statistics.
func (s *paramStore) clone() *paramStore {
	c := newParamStore(s.seed)
	for _, p := range s.params {
		d := append([]float32(nil), p.data()...)
		np := &param{name: p.name, kind: p.kind, fanIn: p.fanIn,
			value: tensor.New(tensor.WithShape(p.value.Shape().Clone()...), tensor.WithBacking(d))}
		c.params = append(c.params, np)
		c.byName[p.name] = np
	}
	for _, b := range s.bns {
		nb := &bnStats{name: b.name, channels: b.channels,
			mean: append([]float32(nil), b.mean...), vr: append([]float32(nil), b.vr...)}
		c.bns = append(c.bns, nb)
		c.bnByNm[b.name] = nb
	}
	return c
}

// initParam fills data as PyTorch's defaults do for conv and linear layers
// (uniform ±1/sqrt(fan_in) for weights and biases), γ = 1 and β = 0 for batch norm. Each
// tensor draws from its own stream, seeded by the run seed and the parameter's name, so the
// initial weights do not depend on the order layers are built in. Gorgonia's initialisers
// seed from the clock (and He panics for float32), so they are not used.
func initParam(data []float32, kind paramKind, fanIn int, seed int64, name string) {
	switch kind {
	case kindBNScale:
		for i := range data {
			data[i] = 1
		}
		return
	case kindBNShift:
		for i := range data {
			data[i] = 0
		}
		return
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
	bound := 1 / math.Sqrt(float64(fanIn))
	for i := range data {
		data[i] = float32((2*rng.Float64() - 1) * bound)
	}
}
