package trainer

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The trainer's ops (backbone_op.go and the steps of backbone.go, linear.go,
// batchnorm_op.go, gather.go) are the same on every device: they decide what to compute,
// in which order, and which buffers hold what. The arithmetic they hand to a backend: the
// CPU backend below calls this package's kernels (kernels.go, conv.go, batchnorm.go) and the
// BLAS; the CUDA backend (cuda_backend.go) launches the same kernels, written in CUDA C, and
// cuBLAS on a GPU. So a graph is built once per replica from the same code whatever its
// device, and only where its numbers live differs.

// mem is n float32s of a backend's memory: host floats (h) for the CPU backend, an address
// in device memory (d) for the CUDA backend.
type mem struct {
	h []float32
	d uint64
	n int
}

func hostMem(h []float32) mem { return mem{h: h, n: len(h)} }

// slice is the n floats from off.
func (m mem) slice(off, n int) mem {
	if off < 0 || n < 0 || off+n > m.n {
		panic(fmt.Sprintf("trainer: floats [%d, %d) of a buffer of %d", off, off+n, m.n))
	}
	if m.h != nil {
		return mem{h: m.h[off : off+n : off+n], n: n}
	}
	return mem{d: m.d + 4*uint64(off), n: n}
}

// none is the absent buffer (a layer without input gradient, a batch norm without residual).
func (m mem) none() bool { return m.n == 0 }

// backend is where a replica's numbers live and how its ops compute: the kernels of the
// backbone's steps, the head's products and the copies its loss needs. The first error of
// a backend (a launch a GPU refused) is kept until err reads it: the ops check it once per
// pass.
type backend interface {
	// alloc returns n floats, zeroed, for the life of the graph.
	alloc(n int) mem
	// param is the value a parameter's node is bound to; value wraps an op's result, mem
	// unwraps an op's input.
	param(p *param) G.Value
	value(m mem, shape ...int) G.Value
	mem(v G.Value) mem
	// hostView returns m's floats on the host (in *scratch, grown to m.n floats, when they
	// must be copied there); hostWrite copies host floats into m.
	hostView(m mem, scratch *[]float32) []float32
	hostWrite(dst mem, src []float32)

	zero(m mem)
	copy(dst, src mem)
	add(dst, src mem)
	reluMask(dy, y mem)
	// relu writes max(x, 0) into y.
	relu(x, y mem)
	toNHWC(x, y mem, n, c, hw int)
	conv(l *convLayer, x, w, y mem)
	convBack(l *convLayer, x, w, dy, dx, dw mem)
	// step and bnLayer tell the backend of a backbone step and a batch-norm layer as the
	// graph is built; built, that the graph is complete (bns: the layers that keep running
	// statistics, in store order).
	step(s bbStep)
	bnLayer(l *bnLayer)
	// bnShare tells it that layer l moves the running statistics of layer with (multi-crop:
	// every crop size's batch norms move the same statistics, in turn).
	bnShare(l, with *bnLayer)
	built(bns []*bnLayer) error
	bn(l *bnLayer, x, gamma, beta, res, y mem)
	bnRecompute(l *bnLayer, x, y mem)
	bnBack(l *bnLayer, x, gamma, dy, dx, dgamma, dbeta mem)
	maxPool(g convGeom, x, y mem)
	maxPoolBack(g convGeom, x, y, dy, dx mem)
	avgPool(x, out mem, n, hw, c int)
	avgPoolBack(dout, dx mem, n, hw, c int)
	// gemm is the row-major c = op(a)·op(b) + beta·c.
	gemm(transA, transB bool, m, n, k int, a mem, lda int, b mem, ldb int, beta float32, c mem, ldc int)
	biasRows(y, b mem, rows, cols int)
	sumRows(dy, db mem, rows, cols int)

	err() error
}

// cpuBackend computes with this package's kernels on the host.
type cpuBackend struct{}

var _ backend = cpuBackend{}

func (cpuBackend) alloc(n int) mem        { return hostMem(make([]float32, n)) }
func (cpuBackend) param(p *param) G.Value { return p.value }
func (cpuBackend) value(m mem, shape ...int) G.Value {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(m.h))
}
func (cpuBackend) mem(v G.Value) mem                      { return hostMem(v.Data().([]float32)) }
func (cpuBackend) hostView(m mem, _ *[]float32) []float32 { return m.h }
func (cpuBackend) hostWrite(dst mem, src []float32)       { copy(dst.h, src) }
func (cpuBackend) zero(m mem)                             { clear(m.h) }
func (cpuBackend) copy(dst, src mem)                      { copy(dst.h, src.h) }
func (cpuBackend) add(dst, src mem)                       { add(dst.h, src.h) }
func (cpuBackend) reluMask(dy, y mem)                     { reluMask(dy.h, y.h) }
func (cpuBackend) toNHWC(x, y mem, n, c, hw int)          { nchwToNHWC(x.h, y.h, n, c, hw) }
func (cpuBackend) conv(l *convLayer, x, w, y mem)         { l.forward(x.h, w.h, y.h) }
func (cpuBackend) convBack(l *convLayer, x, w, dy, dx, dw mem) {
	l.backward(x.h, w.h, dy.h, dx.h, dw.h)
}
func (cpuBackend) step(bbStep)            {}
func (cpuBackend) bnLayer(*bnLayer)       {}
func (cpuBackend) built([]*bnLayer) error { return nil }
func (cpuBackend) bn(l *bnLayer, x, gamma, beta, res, y mem) {
	l.forward(x.h, gamma.h, beta.h, res.h, y.h)
}
func (cpuBackend) bnRecompute(l *bnLayer, x, y mem) {
	bnApply(x.h, y.h, nil, l.rows, l.c, l.scale, l.shift, l.relu)
}
func (cpuBackend) bnBack(l *bnLayer, x, gamma, dy, dx, dgamma, dbeta mem) {
	l.backward(x.h, gamma.h, dy.h, dx.h, dgamma.h, dbeta.h)
}
func (cpuBackend) maxPool(g convGeom, x, y mem)             { maxPool(x.h, y.h, g) }
func (cpuBackend) maxPoolBack(g convGeom, x, y, dy, dx mem) { maxPoolBack(x.h, y.h, dy.h, dx.h, g) }
func (cpuBackend) avgPool(x, out mem, n, hw, c int)         { avgPool(x.h, out.h, n, hw, c) }
func (cpuBackend) avgPoolBack(dout, dx mem, n, hw, c int)   { avgPoolBack(dout.h, dx.h, n, hw, c) }
func (cpuBackend) gemm(transA, transB bool, m, n, k int, a mem, lda int, b mem, ldb int, beta float32, c mem, ldc int) {
	G.WhichBLAS().Sgemm(blasT(transA), blasT(transB), m, n, k, 1, a.h, lda, b.h, ldb, beta, c.h, ldc)
}
func (cpuBackend) biasRows(y, b mem, rows, cols int) {
	for i := 0; i < rows; i++ {
		copy(y.h[i*cols:(i+1)*cols], b.h)
	}
}
func (cpuBackend) sumRows(dy, db mem, rows, cols int) {
	clear(db.h)
	for i := 0; i < rows; i++ {
		for j, v := range dy.h[i*cols : (i+1)*cols] {
			db.h[j] += v
		}
	}
}
func (cpuBackend) err() error { return nil }

func (cpuBackend) relu(x, y mem) {
	for i, v := range x.h {
		y.h[i] = max(v, 0)
	}
}

func (cpuBackend) bnShare(l, with *bnLayer) {
	l.mean, l.vr = with.mean, with.vr
}

// planBackend runs a backbone's steps without computing anything: the memory plan records
// a pass's buffer requests from it (memplan.go), on the host, for any backend.
type planBackend struct{ cpuBackend }

func (planBackend) zero(mem)                                      {}
func (planBackend) copy(_, _ mem)                                 {}
func (planBackend) add(_, _ mem)                                  {}
func (planBackend) reluMask(_, _ mem)                             {}
func (planBackend) toNHWC(_, _ mem, _, _, _ int)                  {}
func (planBackend) conv(*convLayer, mem, mem, mem)                {}
func (planBackend) convBack(*convLayer, mem, mem, mem, mem, mem)  {}
func (planBackend) bn(*bnLayer, mem, mem, mem, mem, mem)          {}
func (planBackend) bnRecompute(*bnLayer, mem, mem)                {}
func (planBackend) bnBack(*bnLayer, mem, mem, mem, mem, mem, mem) {}
func (planBackend) maxPool(convGeom, mem, mem)                    {}
func (planBackend) maxPoolBack(convGeom, mem, mem, mem, mem)      {}
func (planBackend) avgPool(_, _ mem, _, _, _ int)                 {}
func (planBackend) avgPoolBack(_, _ mem, _, _, _ int)             {}

func blasT(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}
