package trainer

import (
	"fmt"
	"math"
)

// target is a momentum (EMA) target network: BYOL's target, MoCo's key encoder. It is a second
// backbone and projector with parameters of their own (store), built into every replica's graph
// in forward-only mode with batch statistics and no gradients; after every optimizer step,
// update moves each of its parameters towards the online one of the same name,
// ξ ← τ ξ + (1 − τ) θ, with τ rising from base to final on a cosine over the run's steps. The
// store is initialised from the run seed exactly as the online one is, so the target starts
// as a copy of the online network, as both papers start it.
type target struct {
	store       *paramStore
	wino        *winoShare // its Winograd weights, apart from the online network's (same names)
	base, final float64
	pairs       [][2]*param // (target, online), in target store order
}

func newTarget(seed int64, base, final float64) *target {
	return &target{store: newParamStore(seed), wino: newWinoShare(), base: base, final: final}
}

// bind pairs every target parameter with the online parameter of its name; called once the
// replicas are built.
func (t *target) bind(online *paramStore) error {
	t.pairs = t.pairs[:0]
	for _, p := range t.store.params {
		o, ok := online.byName[p.name]
		if !ok {
			return fmt.Errorf("trainer: target parameter %s has no online twin", p.name)
		}
		t.pairs = append(t.pairs, [2]*param{p, o})
	}
	return nil
}

// tau is the EMA coefficient of the update after step k (0-based) of total: solo-learn's
// final − (final − base)·(cos(πk/K) + 1)/2, BYOL's 1 − (1 − τ_base)(cos(πk/K) + 1)/2 when
// final is 1.
func (t *target) tau(k, total int64) float64 {
	p := 0.0
	if total > 0 {
		p = math.Min(float64(k)/float64(total), 1)
	}
	return t.final - (t.final-t.base)*(math.Cos(math.Pi*p)+1)/2
}

// update is the EMA step after optimizer step k (0-based) of total, on the host (a GPU's
// is the ema kernel, which rounds as emaStep does).
func (t *target) update(k, total int64) {
	a, c := emaCoeffs(t.tau(k, total))
	for _, pr := range t.pairs {
		emaStep(pr[0].data(), pr[1].data(), a, c)
	}
}

// emaCoeffs are τ and 1 − τ as the EMA step multiplies by them.
func emaCoeffs(tau float64) (a, c float32) { return float32(tau), float32(1 - tau) }

// emaStep moves tw towards ow: tw = a·tw + c·ow.
func emaStep(tw, ow []float32, a, c float32) {
	for i := range tw {
		tw[i] = a*tw[i] + c*ow[i]
	}
}
