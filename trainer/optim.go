package trainer

import (
	"fmt"
	"math"
)

// Optimizer hyper-parameters fixed by the recipes (the config sets lr, momentum, decay).
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
	larsEta   = 0.001 // SimCLR's trust coefficient
)

// optimizer updates parameters in place from their gradients. Its state (one or two slots
// per parameter and the step count) goes into every checkpoint, so a resumed run takes
// exactly the steps the uninterrupted run would have.
type optimizer struct {
	kind        string // "lars", "sgd", "adamw"
	momentum    float64
	weightDecay float64
	t           int64                  // updates taken
	slots       map[string][][]float32 // slot name → per-parameter buffers, in store order
}

// slotNames lists an optimizer's per-parameter state.
func slotNames(kind string) []string {
	if kind == "adamw" {
		return []string{"m", "v"}
	}
	return []string{"momentum"}
}

func newOptimizer(kind string, momentum, weightDecay float64, params []*param) (*optimizer, error) {
	switch kind {
	case "lars", "sgd", "adamw":
	default:
		return nil, fmt.Errorf("trainer: unknown optimizer %q (want lars, sgd or adamw)", kind)
	}
	o := &optimizer{kind: kind, momentum: momentum, weightDecay: weightDecay, slots: map[string][][]float32{}}
	for _, s := range slotNames(kind) {
		bufs := make([][]float32, len(params))
		for i, p := range params {
			bufs[i] = make([]float32, len(p.data()))
		}
		o.slots[s] = bufs
	}
	return o, nil
}

// step applies one update with learning rate lr. grads[i] belongs to params[i].
func (o *optimizer) step(params []*param, grads [][]float32, lr float64) {
	o.t++
	for i, p := range params {
		w, g := p.data(), grads[i]
		wd := o.weightDecay
		if p.kind.excluded() {
			wd = 0
		}
		switch o.kind {
		case "adamw":
			o.adamw(w, g, o.slots["m"][i], o.slots["v"][i], lr, wd)
		case "sgd":
			o.sgd(w, g, o.slots["momentum"][i], lr, wd)
		case "lars":
			o.lars(w, g, o.slots["momentum"][i], lr, wd, !p.kind.excluded())
		}
	}
}

// adamw is PyTorch's AdamW: decoupled decay, then the bias-corrected Adam step.
func (o *optimizer) adamw(w, g, m, v []float32, lr, wd float64) {
	c1 := 1 - math.Pow(adamBeta1, float64(o.t))
	c2 := 1 - math.Pow(adamBeta2, float64(o.t))
	stepSize := lr / c1
	sq2 := math.Sqrt(c2)
	decay := float32(1 - lr*wd)
	for j := range w {
		gj := float64(g[j])
		mj := adamBeta1*float64(m[j]) + (1-adamBeta1)*gj
		vj := adamBeta2*float64(v[j]) + (1-adamBeta2)*gj*gj
		m[j], v[j] = float32(mj), float32(vj)
		w[j] = w[j]*decay - float32(stepSize*mj/(math.Sqrt(vj)/sq2+adamEps))
	}
}

// sgd is PyTorch's SGD with momentum, decay added to the gradient.
func (o *optimizer) sgd(w, g, buf []float32, lr, wd float64) {
	mu := float32(o.momentum)
	for j := range w {
		gj := g[j] + float32(wd)*w[j]
		buf[j] = mu*buf[j] + gj
		w[j] -= float32(lr) * buf[j]
	}
}

// lars is SimCLR's LARS: the decayed gradient is scaled by η‖w‖/‖g‖ (for weights only; batch
// norm and bias parameters take the plain momentum step), then momentum is applied.
func (o *optimizer) lars(w, g, buf []float32, lr, wd float64, adapt bool) {
	scaled := lr
	if adapt {
		var wn, gn float64
		for j := range w {
			gj := float64(g[j]) + wd*float64(w[j])
			wn += float64(w[j]) * float64(w[j])
			gn += gj * gj
		}
		wn, gn = math.Sqrt(wn), math.Sqrt(gn)
		if wn > 0 && gn > 0 {
			scaled = lr * larsEta * wn / gn
		}
	}
	mu := float32(o.momentum)
	for j := range w {
		gj := g[j] + float32(wd)*w[j]
		buf[j] = mu*buf[j] + float32(scaled)*gj
		w[j] -= buf[j]
	}
}

// schedule is the learning rate at (0-based) step: linear warm-up to peak, then cosine decay
// to zero at total steps.
func schedule(peak float64, step, warmup, total int) float64 {
	if step < warmup {
		return peak * float64(step+1) / float64(warmup)
	}
	if total <= warmup {
		return peak
	}
	p := float64(step-warmup) / float64(total-warmup)
	if p > 1 {
		p = 1
	}
	return peak * 0.5 * (1 + math.Cos(math.Pi*p))
}

// peakLR scales train.lr, given per 256 images, to the global batch.
func peakLR(lrPer256 float64, globalBatch int) float64 {
	return lrPer256 * float64(globalBatch) / 256
}
