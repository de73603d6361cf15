package trainer

import (
	"fmt"
	"math"
)

// objective is a method's loss over the global batch: the gathered blocks of every replica
// of the world (layout), from which it computes the loss and the gradient of each online row.
// The gradient's layout is the blocks'; the target rows' part is left as it is (no gradient
// reaches the target network). It is called once per step, by one goroutine.
type objective interface {
	loss(g, dg []float32) float64
}

// committer is an objective with state that a step changes once the optimizer has taken it
// (MoCo's queue takes the step's keys).
type committer interface {
	commit()
}

// newObjective returns the loss of spec's method over blocks laid out as l.
func newObjective(spec netSpec, l layout) (objective, error) {
	m := spec.method
	switch m.Name {
	case "", "simclr":
		pos := multiCropPositives(l.n, l.views, l.global)
		if l.views == 2 {
			pos = replicaPairs(l.n)
		}
		return &simclrLoss{l: l, temp: spec.temp, pos: pos}, nil
	case "byol":
		return &byolLoss{l: l}, nil
	case "moco":
		return newMoCoLoss(l, m.QueueSize, m.Temperature, spec.seed)
	case "vicreg", "barlow":
		if l.views != 2 {
			return nil, fmt.Errorf("trainer: %s pairs two views of each image, not %d", m.Name, l.views)
		}
		if l.images() < 2 {
			return nil, fmt.Errorf("trainer: %s needs a global batch of at least 2 images for its statistics", m.Name)
		}
		if m.Name == "vicreg" {
			return &vicregLoss{l: l, sim: m.SimCoeff, std: m.StdCoeff, cov: m.CovCoeff}, nil
		}
		return &barlowLoss{l: l, lambda: m.Lambda}, nil
	}
	return nil, fmt.Errorf("trainer: unknown method %q", m.Name)
}

// simclrLoss is NT-Xent over every view of the global batch (ntxent.go).
type simclrLoss struct {
	l    layout
	temp float64
	pos  positives
}

func (s *simclrLoss) loss(g, dg []float32) float64 {
	return ntXent(g, s.l.replicas*s.l.views*s.l.n, s.l.dOnline, s.temp, s.pos, dg)
}

// byolLoss is BYOL's: for every global view t and every other view v of an image, 2 − 2·cos
// between the online prediction of v and the target projection of t, averaged over the
// batch and summed over the pairs (solo-learn's multi-crop BYOL; with two views, BYOL's
// symmetrised loss).
type byolLoss struct{ l layout }

func (b *byolLoss) loss(g, dg []float32) float64 {
	l := b.l
	n, d := l.images(), l.dOnline
	p := make([][]float64, l.views)
	grad := make([][]float64, l.views)
	for v := range p {
		p[v] = l.onlineView(g, v)
		grad[v] = make([]float64, n*d)
	}
	var loss float64
	for t := range l.global {
		z := l.targetView(g, t)
		for v := range l.views {
			if v == t {
				continue
			}
			loss += cosinePull(p[v], z, n, d, grad[v])
		}
	}
	for v := range p {
		l.setOnlineGrad(dg, v, grad[v])
	}
	return loss
}

// cosinePull returns the mean over the n rows of 2 − 2·cos(p_k, z_k) and adds its gradient
// with respect to p to grad (z is held constant: the stop-gradient).
func cosinePull(p, z []float64, n, d int, grad []float64) float64 {
	var loss float64
	for k := range n {
		pk, zk := p[k*d:(k+1)*d], z[k*d:(k+1)*d]
		np, nz := norm(pk), norm(zk)
		var dot float64
		for j := range pk {
			dot += pk[j] * zk[j]
		}
		c := dot / (np * nz)
		loss += 2 - 2*c
		// d(−2c)/dp = −2 (ẑ − p̂ c) / |p|, over n rows
		s := -2 / float64(n) / np
		for j := range pk {
			grad[k*d+j] += s * (zk[j]/nz - pk[j]/np*c)
		}
	}
	return loss / float64(n)
}

// norm is the Euclidean norm of v, at least 1e-12 (as F.normalize's eps keeps it off 0).
func norm(v []float64) float64 {
	var ss float64
	for _, x := range v {
		ss += x * x
	}
	return max(math.Sqrt(ss), 1e-12)
}
