//go:build cgo

package trainer

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/natssl/natssl/trainer/cuda"
)

// cudaBackend is a replica's backend on a GPU: its buffers are device memory, its kernels
// the CUDA C twins of this package's CPU kernels (trainer/cuda/kernels), launched on the
// replica's queue, and its products cuBLAS's. Convolutions are im2col (or the pointwise
// shortcut) and cuBLAS products over channels-last activations, as the CPU's im2col path:
// the GPU has no Winograd path, so its convolutions equal the CPU's up to the order of the
// sums. Buffers are allocated while the graph is built, so that a step allocates nothing.
type cudaBackend struct {
	q   gpuQueue
	dev *gpuDevice

	bns     map[*bnLayer]*cuda.BN
	bnOrder []*bnLayer
	shared  map[*bnLayer]*bnLayer // a layer that moves another's running statistics: that one
	// The scratch the layers share (a replica runs one layer at a time), sized by the
	// largest layer: the weights and their gradient in the products' layout, a block of the
	// column matrix and of its gradient, the max pool's choices, batch norm's partial sums.
	need                         struct{ wk, col, arg, partial int }
	wk, dwk, col, dcol, arg, prt mem

	// The running statistics of the layers that keep them, in the builder's order, on the
	// device and on the host (the layers' mean and var slices point into it).
	stats     mem
	statsHost []float32

	first error
}

// gpuDevice is what the replicas on one GPU share: its parameters, the online network's and
// the target network's.
type gpuDevice struct {
	index  int
	q      gpuQueue // the first replica's, which holds the parameters' memory
	params map[*param]*devValue
	order  []*param
}

var _ backend = (*cudaBackend)(nil)

func newCUDABackend(q gpuQueue, dev *gpuDevice) *cudaBackend {
	return &cudaBackend{q: q, dev: dev, bns: map[*bnLayer]*cuda.BN{}, shared: map[*bnLayer]*bnLayer{}}
}

// fail keeps the backend's first error.
func (b *cudaBackend) fail(err error) {
	if err != nil && b.first == nil {
		b.first = errWrap(b.q, err)
	}
}

func (b *cudaBackend) err() error {
	err := b.first
	b.first = nil
	return err
}

func (m mem) dp() cuda.DevicePtr { return cuda.DevicePtr(m.d) }

func (b *cudaBackend) alloc(n int) mem {
	p, err := b.q.alloc(n)
	b.fail(err)
	return mem{d: uint64(p), n: n}
}

func (b *cudaBackend) param(p *param) G.Value {
	if v, ok := b.dev.params[p]; ok {
		return v
	}
	p0, err := b.dev.q.alloc(len(p.data()))
	b.fail(err)
	v := newDevValue(mem{d: uint64(p0), n: len(p.data())}, p.value.Shape()...)
	b.dev.params[p] = v
	b.dev.order = append(b.dev.order, p)
	return v
}

func (b *cudaBackend) value(m mem, shape ...int) G.Value { return newDevValue(m, shape...) }

func (b *cudaBackend) mem(v G.Value) mem {
	d, ok := v.(*devValue)
	if !ok {
		panic(fmt.Sprintf("trainer: a host value (%T) reached the CUDA backend", v))
	}
	return d.m
}

func (b *cudaBackend) hostView(m mem, scratch *[]float32) []float32 {
	*scratch = grow(*scratch, m.n)
	b.fail(b.q.download(*scratch, m.dp()))
	return *scratch
}

func (b *cudaBackend) hostWrite(dst mem, src []float32) { b.fail(b.q.upload(dst.dp(), src)) }

func (b *cudaBackend) zero(m mem)         { b.fail(cuda.Fill(b.q, m.dp(), 0, m.n)) }
func (b *cudaBackend) copy(dst, src mem)  { b.fail(cuda.CopyTo(b.q, dst.dp(), src.dp(), dst.n)) }
func (b *cudaBackend) add(dst, src mem)   { b.fail(cuda.AddTo(b.q, dst.dp(), src.dp(), dst.n)) }
func (b *cudaBackend) reluMask(dy, y mem) { b.fail(cuda.ReLUMask(b.q, dy.dp(), y.dp(), dy.n)) }
func (b *cudaBackend) relu(x, y mem)      { b.fail(cuda.ReLU(b.q, x.dp(), y.dp(), x.n)) }
func (b *cudaBackend) toNHWC(x, y mem, n, c, hw int) {
	b.fail(cuda.NCHWToNHWC(b.q, x.dp(), y.dp(), n, c, hw))
}

func geomOf(g convGeom) cuda.Geom {
	return cuda.Geom{N: g.n, H: g.h, W: g.w, C: g.c, O: g.o, K: g.k, S: g.s, P: g.p}
}

// gpuColFloats bounds a block of a convolution's column matrix on a GPU (128 MiB; tests
// lower it to cross block edges).
var gpuColFloats = 1 << 25

// gpuBlockRows is how many output rows one block of a convolution on a GPU takes: blocks
// of about equal size, each at most gpuColFloats floats wide, or the whole output for a
// pointwise convolution, whose column matrix is its input.
func gpuBlockRows(l *convLayer) int {
	total := l.g.outPixels()
	if l.algo == convPointwise {
		return total
	}
	rows := max(gpuColFloats/l.g.colWidth(), 1)
	blocks := (total + rows - 1) / rows
	return (total + blocks - 1) / blocks
}

// step sizes the scratch for a backbone step.
func (b *cudaBackend) step(s bbStep) {
	switch s := s.(type) {
	case *convStep:
		g := s.l.g
		b.need.wk = max(b.need.wk, g.colWidth()*g.o)
		if s.l.algo != convPointwise {
			b.need.col = max(b.need.col, gpuBlockRows(s.l)*g.colWidth())
		}
	case *maxPoolStep:
		b.need.arg = max(b.need.arg, geomOf(s.g).MaxPoolArgInts())
	}
}

// columns returns rows r0 … r0+nr−1 of x's column matrix: x itself for a pointwise
// convolution, else the block buffer.
func (b *cudaBackend) columns(l *convLayer, g cuda.Geom, x mem, r0, nr int) mem {
	if l.algo == convPointwise {
		return x.slice(r0*g.C, nr*g.C)
	}
	col := b.col.slice(0, nr*g.ColWidth())
	if g.K == 1 && g.P == 0 {
		b.fail(cuda.Subsample(b.q, g, x.dp(), col.dp(), r0, nr))
	} else {
		b.fail(cuda.Im2col(b.q, g, x.dp(), col.dp(), r0, nr))
	}
	return col
}

func (b *cudaBackend) conv(l *convLayer, x, w, y mem) {
	g := geomOf(l.g)
	kc, rows := g.ColWidth(), g.Rows()
	wk := b.wk.slice(0, kc*g.O)
	b.fail(cuda.WeightsKCO(b.q, g, w.dp(), wk.dp()))
	step := gpuBlockRows(l)
	for r0 := 0; r0 < rows; r0 += step {
		nr := min(step, rows-r0)
		col := b.columns(l, g, x, r0, nr)
		b.gemm(false, false, nr, g.O, kc, col, kc, wk, g.O, 0, y.slice(r0*g.O, nr*g.O), g.O)
	}
}

// convBack writes the weight gradient dw and, unless the layer takes no input gradient,
// adds the input gradient to dx, as convLayer.backward.
func (b *cudaBackend) convBack(l *convLayer, x, w, dy, dx, dw mem) {
	g := geomOf(l.g)
	kc, rows := g.ColWidth(), g.Rows()
	wk, dwk := b.wk.slice(0, kc*g.O), b.dwk.slice(0, kc*g.O)
	b.fail(cuda.WeightsKCO(b.q, g, w.dp(), wk.dp()))
	step := gpuBlockRows(l)
	for r0 := 0; r0 < rows; r0 += step {
		nr := min(step, rows-r0)
		col := b.columns(l, g, x, r0, nr)
		d := dy.slice(r0*g.O, nr*g.O)
		beta := float32(1)
		if r0 == 0 {
			beta = 0
		}
		b.gemm(true, false, kc, g.O, nr, col, kc, d, g.O, beta, dwk, g.O)
		if l.noDX {
			continue
		}
		if l.algo == convPointwise {
			b.gemm(false, true, nr, kc, g.O, d, g.O, wk, g.O, 1, dx.slice(r0*g.C, nr*g.C), kc)
			continue
		}
		dcol := b.dcol.slice(0, nr*kc)
		b.gemm(false, true, nr, kc, g.O, d, g.O, wk, g.O, 0, dcol, kc)
		if g.K == 1 && g.P == 0 {
			b.fail(cuda.SubsampleBack(b.q, g, dcol.dp(), dx.dp(), r0, nr))
		} else {
			b.fail(cuda.Col2im(b.q, g, dcol.dp(), dx.dp(), r0, nr))
		}
	}
	b.fail(cuda.WeightsKCOBack(b.q, g, dwk.dp(), dw.dp()))
}

// bnLayer gives a batch-norm layer its device state; the running statistics and the
// shared scratch come when the graph is built.
func (b *cudaBackend) bnLayer(l *bnLayer) {
	c := &cuda.BN{Rows: l.rows, C: l.c, Chunk: l.chunk, ReLU: l.relu, Residual: l.residual}
	n := cuda.BNStateFloats(l.c)
	c.SetState(b.alloc(n + n%2).dp()) // an even count keeps the doubles aligned in the simulation
	b.need.partial = max(b.need.partial, c.PartialFloats())
	b.bns[l] = c
	b.bnOrder = append(b.bnOrder, l)
}

func (b *cudaBackend) bnShare(l, with *bnLayer) {
	b.shared[l] = with
	l.mean, l.vr = with.mean, with.vr
}

func (b *cudaBackend) bn(l *bnLayer, x, gamma, beta, res, y mem) {
	c := b.bns[l]
	switch l.mode {
	case bnTrain:
		b.fail(c.ForwardTrain(b.q, x.dp(), gamma.dp(), beta.dp(), res.dp(), y.dp(), 1-bnMomentum, bnMomentum, bnEpsilon))
	case bnEval:
		b.fail(c.ForwardEval(b.q, x.dp(), gamma.dp(), beta.dp(), res.dp(), y.dp(), bnEpsilon))
	default:
		b.fail(c.ForwardAffine(b.q, x.dp(), gamma.dp(), beta.dp(), res.dp(), y.dp()))
	}
}

func (b *cudaBackend) bnRecompute(l *bnLayer, x, y mem) {
	b.fail(b.bns[l].Apply(b.q, x.dp(), 0, y.dp()))
}

func (b *cudaBackend) bnBack(l *bnLayer, x, gamma, dy, dx, dgamma, dbeta mem) {
	b.fail(b.bns[l].Backward(b.q, x.dp(), gamma.dp(), dy.dp(), dx.dp(), dgamma.dp(), dbeta.dp(), l.mode == bnTrain))
}

func (b *cudaBackend) maxPool(g convGeom, x, y mem) {
	b.fail(cuda.MaxPool(b.q, geomOf(g), x.dp(), y.dp()))
}

func (b *cudaBackend) maxPoolBack(g convGeom, x, y, dy, dx mem) {
	b.fail(cuda.MaxPoolBack(b.q, geomOf(g), x.dp(), y.dp(), dy.dp(), dx.dp(), b.arg.dp()))
}

func (b *cudaBackend) avgPool(x, out mem, n, hw, c int) {
	b.fail(cuda.AvgPool(b.q, x.dp(), out.dp(), n, hw, c))
}

func (b *cudaBackend) avgPoolBack(dout, dx mem, n, hw, c int) {
	b.fail(cuda.AvgPoolBack(b.q, dout.dp(), dx.dp(), n, hw, c))
}

func (b *cudaBackend) gemm(transA, transB bool, m, n, k int, a mem, lda int, bm mem, ldb int, beta float32, c mem, ldc int) {
	b.fail(b.q.SgemmRowMajor(transA, transB, m, n, k, 1, a.dp(), lda, bm.dp(), ldb, beta, c.dp(), ldc))
}

func (b *cudaBackend) biasRows(y, bias mem, rows, cols int) {
	b.fail(cuda.BiasRows(b.q, y.dp(), bias.dp(), rows, cols))
}

func (b *cudaBackend) sumRows(dy, db mem, rows, cols int) {
	b.fail(cuda.SumRows(b.q, dy.dp(), db.dp(), rows, cols))
}

// built allocates the scratch the layers asked for and the running statistics of the
// layers that keep them (bns, in the builder's order), and points those layers' host
// statistics at the host copy; the layers that share them (bnShare) move the same device
// statistics, and every other layer's are on the device alone.
func (b *cudaBackend) built(bns []*bnLayer) error {
	b.wk, b.dwk = b.alloc(max(b.need.wk, 1)), b.alloc(max(b.need.wk, 1))
	b.col, b.dcol = b.alloc(max(b.need.col, 1)), b.alloc(max(b.need.col, 1))
	b.arg, b.prt = b.alloc(max(b.need.arg, 1)), b.alloc(max(b.need.partial, 1))
	total := 0
	for _, l := range bns {
		total += 2 * l.c
	}
	b.stats = b.alloc(max(total, 1))
	b.statsHost = make([]float32, total)
	off := 0
	for _, l := range bns {
		c := b.bns[l]
		m := b.stats.slice(off, 2*l.c)
		c.RunMean, c.RunVar = m.slice(0, l.c).dp(), m.slice(l.c, l.c).dp()
		l.mean, l.vr = b.statsHost[off:off+l.c:off+l.c], b.statsHost[off+l.c:off+2*l.c]
		off += 2 * l.c
	}
	// The layers of the other crop sizes move those statistics too. The other layers, a
	// target network's, normalise with their batch's statistics and keep running statistics
	// that nothing reads: on the device alone.
	kept := map[*bnLayer]bool{}
	for _, l := range bns {
		kept[l] = true
	}
	for _, l := range b.bnOrder {
		c := b.bns[l]
		switch with, ok := b.shared[l]; {
		case ok:
			c.RunMean, c.RunVar = b.bns[with].RunMean, b.bns[with].RunVar
			l.mean, l.vr = with.mean, with.vr
		case !kept[l]:
			m := b.alloc(2 * l.c)
			c.RunMean, c.RunVar = m.slice(0, l.c).dp(), m.slice(l.c, l.c).dp()
		}
	}
	for _, c := range b.bns {
		c.Partial = b.prt.dp()
	}
	return b.err()
}
