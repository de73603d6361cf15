package trainer

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// mocoLoss is MoCo v2's InfoNCE against a queue of past keys, as solo-learn's mocov2plus
// symmetrises it: for every global view t and every other view v of an image, the query (the
// online projection of v, normalised) has the key (the key encoder's projection of t,
// normalised) as its positive and the keys of queue t as its negatives, at temperature temp;
// the loss is the mean over the pairs of the batch-mean cross-entropy. Each global view has
// its own queue of size keys (unit vectors), started as random unit vectors from the run
// seed; after the optimizer step, commit writes the global batch's keys of view t into queue
// t, in global batch order, at the shared pointer, which then moves on by the batch. Every
// replica and every process computes the same loss from the same gathered keys, so all hold
// the same queues.
type mocoLoss struct {
	l     layout
	temp  float64
	size  int         // keys per queue
	queue [][]float32 // per global view: size × d, row-major
	ptr   int         // where the next batch's keys go
	keys  [][]float32 // the last loss's normalised keys per global view, N × d, until commit
	fresh bool        // keys hold a step not yet committed
}

var _ committer = (*mocoLoss)(nil)

func newMoCoLoss(l layout, size int, temp float64, seed int64) (*mocoLoss, error) {
	n := l.images()
	if size < n || size%n != 0 {
		return nil, fmt.Errorf("trainer: moco: method.queue_size %d must be a multiple of the global batch %d", size, n)
	}
	m := &mocoLoss{l: l, temp: temp, size: size}
	d := l.dTarget
	for t := range l.global {
		q := make([]float32, size*d)
		h := fnv.New64a()
		fmt.Fprintf(h, "moco.queue.%d", t)
		rng := rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
		for i := range size {
			row := q[i*d : (i+1)*d]
			var ss float64
			for j := range row {
				x := rng.NormFloat64()
				row[j] = float32(x)
				ss += x * x
			}
			s := float32(1 / math.Max(math.Sqrt(ss), 1e-12))
			for j := range row {
				row[j] *= s
			}
		}
		m.queue = append(m.queue, q)
		m.keys = append(m.keys, make([]float32, n*d))
	}
	return m, nil
}

func (m *mocoLoss) loss(g, dg []float32) float64 {
	l := m.l
	n, d := l.images(), l.dOnline
	if l.dTarget != d {
		panic(fmt.Sprintf("trainer: moco: queries of %d and keys of %d", d, l.dTarget))
	}
	q := make([][]float64, l.views)
	qn := make([][]float64, l.views)
	norms := make([][]float64, l.views)
	grad := make([][]float64, l.views)
	for v := range q {
		q[v] = l.onlineView(g, v)
		qn[v], norms[v] = normalizeRows(q[v], n, d)
		grad[v] = make([]float64, n*d)
	}
	pairs := l.global * (l.views - 1)
	var loss float64
	for t := range l.global {
		kn, _ := normalizeRows(l.targetView(g, t), n, d)
		for i, x := range kn {
			m.keys[t][i] = float32(x)
		}
		queue := make([]float64, m.size*d)
		for i, x := range m.queue[t] {
			queue[i] = float64(x)
		}
		for v := range l.views {
			if v == t {
				continue
			}
			loss += m.infoNCE(qn[v], kn, queue, n, d, 1/float64(pairs), grad[v])
		}
	}
	m.fresh = true
	for v := range q {
		// through the normalisation: dq = (g − q̂ (q̂·g)) / |q|
		for k := range n {
			u, gk := qn[v][k*d:(k+1)*d], grad[v][k*d:(k+1)*d]
			var dot float64
			for j := range u {
				dot += u[j] * gk[j]
			}
			for j := range u {
				gk[j] = (gk[j] - u[j]*dot) / norms[v][k]
			}
		}
		l.setOnlineGrad(dg, v, grad[v])
	}
	return loss / float64(pairs)
}

// infoNCE returns the batch-mean cross-entropy of the queries q̂ (n × d, unit rows) against
// their keys k̂ and the queue, and adds w times its gradient with respect to q̂ to grad.
func (m *mocoLoss) infoNCE(q, k, queue []float64, n, d int, w float64, grad []float64) float64 {
	// neg = q̂ queueᵀ / τ, n × size
	neg := make([]float64, n*m.size)
	dgemm(false, true, n, m.size, d, 1/m.temp, q, queue, 0, neg)
	var loss float64
	s := w / float64(n) / m.temp
	for i := range n {
		qi, ki := q[i*d:(i+1)*d], k[i*d:(i+1)*d]
		var pos float64
		for j := range qi {
			pos += qi[j] * ki[j]
		}
		pos /= m.temp
		row := neg[i*m.size : (i+1)*m.size]
		mx := pos
		for _, x := range row {
			mx = max(mx, x)
		}
		sum := math.Exp(pos - mx)
		for _, x := range row {
			sum += math.Exp(x - mx)
		}
		lse := mx + math.Log(sum)
		loss += lse - pos
		// dCE/dq̂ = (Σ_j p_j key_j − k̂) / τ with key_0 = k̂
		gi := grad[i*d : (i+1)*d]
		p0 := math.Exp(pos-lse) - 1
		for j := range gi {
			gi[j] += s * p0 * ki[j]
		}
		for c, x := range row {
			row[c] = math.Exp(x-lse) * s
		}
	}
	// grad += P queue, P the softmax weights over the queue (n × size)
	dgemm(false, false, n, d, m.size, 1, neg, queue, 1, grad)
	return loss / float64(n)
}

// commit enqueues the last loss's keys: global view t's into queue t at the pointer.
func (m *mocoLoss) commit() {
	if !m.fresh {
		return
	}
	n, d := m.l.images(), m.l.dTarget
	for t := range m.queue {
		copy(m.queue[t][m.ptr*d:(m.ptr+n)*d], m.keys[t])
	}
	m.ptr = (m.ptr + n) % m.size
	m.fresh = false
}

// normalizeRows returns the rows of x (n × d) scaled to unit length, and their norms.
func normalizeRows(x []float64, n, d int) ([]float64, []float64) {
	out := make([]float64, len(x))
	norms := make([]float64, n)
	for k := range n {
		row := x[k*d : (k+1)*d]
		nr := norm(row)
		norms[k] = nr
		for j, v := range row {
			out[k*d+j] = v / nr
		}
	}
	return out, norms
}
