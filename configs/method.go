package configs

import (
	"fmt"
	"strings"
)

// Method chooses the self-supervised method and holds each method's own keys. Every key has
// one default (default.yaml, from the method's paper or solo-learn's recipe); a key belongs to
// one method, and setting a key of another method than Name is refused. SimCLR's one key is
// its temperature, train.temperature, where the config has always had it.
type Method struct {
	Name string `yaml:"name"` // simclr | byol | moco | vicreg | barlow

	// BYOL: the target network is the EMA of the online one with τ rising from TauBase to
	// TauFinal over the run on a cosine; the predictor is Linear-BN-ReLU-Linear with
	// PredHidden units (0: model.proj_hidden, the projector's width, as in the paper).
	TauBase    float64 `yaml:"tau_base"`
	TauFinal   float64 `yaml:"tau_final"`
	PredHidden int     `yaml:"pred_hidden"`

	// MoCo v2: the key encoder is the EMA of the query encoder with m rising from Momentum
	// to MomentumFinal on a cosine; QueueSize past keys per global view are the negatives.
	Momentum      float64 `yaml:"momentum"`
	MomentumFinal float64 `yaml:"momentum_final"`
	QueueSize     int     `yaml:"queue_size"`
	Temperature   float64 `yaml:"temperature"`

	// VICReg: the weights of the invariance (λ), variance (μ) and covariance (ν) terms.
	SimCoeff float64 `yaml:"sim_coeff"`
	StdCoeff float64 `yaml:"std_coeff"`
	CovCoeff float64 `yaml:"cov_coeff"`

	// Barlow Twins: the weight λ of the off-diagonal (redundancy reduction) term.
	Lambda float64 `yaml:"lambda"`
}

// Methods are the values of method.name.
var Methods = []string{"simclr", "byol", "moco", "vicreg", "barlow"}

// methodKeys are each method's own keys. A key outside method. that only one method reads is
// listed too (SimCLR's temperature).
var methodKeys = map[string][]string{
	"simclr": {"train.temperature"},
	"byol":   {"method.tau_base", "method.tau_final", "method.pred_hidden"},
	"moco":   {"method.momentum", "method.momentum_final", "method.queue_size", "method.temperature"},
	"vicreg": {"method.sim_coeff", "method.std_coeff", "method.cov_coeff"},
	"barlow": {"method.lambda"},
}

// methodTitle is how messages name a method.
var methodTitle = map[string]string{"simclr": "SimCLR", "byol": "BYOL", "moco": "MoCo v2", "vicreg": "VICReg", "barlow": "Barlow Twins"}

// ownerOf returns the method a key belongs to, or "" for a key every method reads.
func ownerOf(key string) string {
	for m, keys := range methodKeys {
		for _, k := range keys {
			if k == key {
				return m
			}
		}
	}
	return ""
}

// Applies reports whether key means something for c's method: a key of another method does
// not, and is left out of the run's YAML, its params and its config hash.
func (c *Config) Applies(key string) bool {
	owner := ownerOf(key)
	return owner == "" || owner == c.Method.Name
}

// UsesTarget reports whether the method trains against a momentum (EMA) target network.
func (m Method) UsesTarget() bool { return m.Name == "byol" || m.Name == "moco" }

// PredictorHidden is the width of BYOL's predictor: method.pred_hidden, or the projector's.
func (c *Config) PredictorHidden() int {
	if c.Method.PredHidden > 0 {
		return c.Method.PredHidden
	}
	return c.Model.ProjHidden
}

// validateMethod checks the method's keys, refuses keys of other methods that a layer above
// the defaults set (the embedded default preset is the defaults), and the view groups the
// method cannot pair.
func (c *Config) validateMethod(bad func(key, reason string)) {
	m := c.Method
	known := false
	for _, x := range Methods {
		known = known || m.Name == x
	}
	if !known {
		bad("method.name", "must be one of "+strings.Join(Methods, ", "))
		return
	}
	for owner, keys := range methodKeys {
		if owner == m.Name {
			continue
		}
		for _, k := range keys {
			if o := c.Origin(k); o != "" && o != "default" && !strings.HasPrefix(o, "preset default:") {
				bad(k, misplaced(k, owner, m.Name))
			}
		}
	}
	unit := func(key string, v float64) {
		if !(v >= 0 && v <= 1) {
			bad(key, "an EMA coefficient must be in [0, 1]")
		}
	}
	positive := func(key string, v float64) {
		if !(v > 0) {
			bad(key, "must be > 0")
		}
	}
	nonNeg := func(key string, v float64) {
		if !(v >= 0) {
			bad(key, "must be >= 0")
		}
	}
	switch m.Name {
	case "byol":
		unit("method.tau_base", m.TauBase)
		unit("method.tau_final", m.TauFinal)
		switch {
		case m.PredHidden < 0:
			bad("method.pred_hidden", "must be at least 0 (0: model.proj_hidden)")
		case m.PredHidden > MaxProjDim:
			bad("method.pred_hidden", fmt.Sprintf("must be at most %d", MaxProjDim))
		}
	case "moco":
		unit("method.momentum", m.Momentum)
		unit("method.momentum_final", m.MomentumFinal)
		positive("method.temperature", m.Temperature)
		switch b := c.Data.BatchSize; {
		case m.QueueSize < 1:
			bad("method.queue_size", "must be at least 1")
		case m.QueueSize > MaxQueueSize:
			bad("method.queue_size", fmt.Sprintf("must be at most %d", MaxQueueSize))
		case b > 0 && m.QueueSize%b != 0:
			bad("method.queue_size", fmt.Sprintf("must be a multiple of data.batch_size %d: each step enqueues the global batch's keys, as MoCo does", b))
		}
	case "vicreg":
		nonNeg("method.sim_coeff", m.SimCoeff)
		nonNeg("method.std_coeff", m.StdCoeff)
		nonNeg("method.cov_coeff", m.CovCoeff)
		if m.SimCoeff+m.StdCoeff+m.CovCoeff == 0 {
			bad("method.sim_coeff", "VICReg's three weights are all 0: nothing to train")
		}
	case "barlow":
		nonNeg("method.lambda", m.Lambda)
	}
	if (m.Name == "vicreg" || m.Name == "barlow") && len(c.Augment.Crops) > 0 &&
		(len(c.Augment.Crops) != 1 || c.Augment.Crops[0].Count != 2) {
		bad("augment.crops", fmt.Sprintf("%s's loss is defined on two views of each image (no multi-crop in its paper): use one group of count 2, or none", methodTitle[m.Name]))
	}
}

// misplaced says why key, a key of owner, is refused for method.
func misplaced(key, owner, method string) string {
	switch {
	case key == "train.temperature" && method == "moco":
		return "is SimCLR's temperature; MoCo v2's is method.temperature"
	case key == "method.temperature" && method == "simclr":
		return "is MoCo v2's temperature; SimCLR's is train.temperature"
	}
	own := methodKeys[method]
	has := "none"
	if len(own) > 0 {
		has = strings.Join(own, ", ")
	}
	return fmt.Sprintf("is a key of %s (method.name: %s), but method.name is %s; %s's keys: %s",
		methodTitle[owner], owner, method, methodTitle[method], has)
}
