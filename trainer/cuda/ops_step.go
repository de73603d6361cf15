package cuda

import (
	"fmt"
	"math"
)

// NTXent is SimCLR's normalised-temperature cross-entropy over M embeddings of dimension D,
// with its device buffers. Rows pair up within blocks of 2N (one block per replica: its N
// first views, then its N second views); every row is an anchor whose negatives are all
// other rows; the loss is the mean over anchors.
type NTXent struct {
	M, D, N int
	Temp    float64
	U       DevicePtr // M·D: the normalised rows
	Norms   DevicePtr // M
	S       DevicePtr // M·M: similarities, then dL/dS
	G       DevicePtr // M·D: dL/dU
	Rows    DevicePtr // M: each anchor's loss
	Loss    DevicePtr // 1: the mean loss
}

// NTXentFloats is the number of floats NewNTXent carves its buffers from.
func NTXentFloats(m, d int) int { return 2*m*d + m + m*m + m + 1 }

// NewNTXent lays the loss's buffers out in one allocation of NTXentFloats(m, d) floats.
func NewNTXent(m, d, n int, temp float64, scratch DevicePtr) (NTXent, error) {
	if m <= 0 || d <= 0 || n <= 0 || m%(2*n) != 0 || temp <= 0 {
		return NTXent{}, fmt.Errorf("cuda: nt-xent: %d rows of %d in blocks of 2·%d at temperature %g", m, d, n, temp)
	}
	l := NTXent{M: m, D: d, N: n, Temp: temp}
	at := 0
	next := func(k int) DevicePtr {
		p := scratch.At(at)
		at += k
		return p
	}
	l.U, l.G, l.Norms, l.S, l.Rows, l.Loss = next(m*d), next(m*d), next(m), next(m*m), next(m), next(1)
	return l, nil
}

// Run computes the loss (left in Loss[0]) of the embeddings z (M × D) and its gradient dz.
func (l NTXent) Run(r Runner, gemm Gemm, z, dz DevicePtr) error {
	m, d := l.M, l.D
	inv := float32(1 / l.Temp)
	if err := perBlock(r, "l2norm_rows", m, z, l.U, l.Norms, d); err != nil {
		return err
	}
	if err := gemm.SgemmRowMajor(false, true, m, m, d, inv, l.U, d, l.U, d, 0, l.S, m); err != nil {
		return fmt.Errorf("cuda: nt-xent similarities: %w", err)
	}
	if err := perBlock(r, "ntxent_rows", m, l.S, l.Rows, m, l.N); err != nil {
		return err
	}
	// dL/dU = (A + Aᵀ)·U/τ, A = dL/dS.
	if err := gemm.SgemmRowMajor(false, false, m, d, m, inv, l.S, m, l.U, d, 0, l.G, d); err != nil {
		return fmt.Errorf("cuda: nt-xent gradient: %w", err)
	}
	if err := gemm.SgemmRowMajor(true, false, m, d, m, inv, l.S, m, l.U, d, 1, l.G, d); err != nil {
		return fmt.Errorf("cuda: nt-xent gradient: %w", err)
	}
	if err := perBlock(r, "l2norm_rows_bwd", m, l.U, l.G, l.Norms, dz, d); err != nil {
		return err
	}
	return run(r, "ntxent_loss", Dim3{X: 1}, Dim3{X: reduceThreads}, l.Rows, l.Loss, m)
}

// The optimizer steps, one parameter tensor of n floats per call, with the trainer's CPU
// maths; the trainer passes its hyper-parameters.

// SGD is PyTorch's SGD with momentum (Nesterov when set), decay added to the gradient.
func SGD(r Runner, w, g, buf DevicePtr, n int, lr, wd, momentum float32, nesterov bool) error {
	return loop(r, "sgd", int64(n), w, g, buf, int64(n), lr, wd, momentum, nesterov)
}

// AdamW is PyTorch's AdamW at update t (1 for the first): decoupled decay, then the
// bias-corrected Adam step.
func AdamW(r Runner, w, g, m, v DevicePtr, n int, t int64, lr, wd, beta1, beta2, eps float64) error {
	c1 := 1 - math.Pow(beta1, float64(t))
	c2 := 1 - math.Pow(beta2, float64(t))
	return loop(r, "adamw", int64(n), w, g, m, v, int64(n), beta1, beta2, eps, lr/c1, math.Sqrt(c2), float32(1-lr*wd))
}

// larsBlocks caps the blocks of the LARS norms, and so the partial sums LARSScratchFloats holds.
const larsBlocks = 64

// LARSScratchFloats is the size of the scratch LARS needs: the norms' partial sums (doubles)
// and the step's scale.
const LARSScratchFloats = 2*2*larsBlocks + 1

// LARS is SimCLR's LARS: the decayed gradient scaled by η·|w|/|g| when adapt is set (weights;
// batch-norm and bias parameters take the plain momentum step), then momentum. The scale
// stays on the device: nothing is read back.
func LARS(r Runner, w, g, buf DevicePtr, n int, lr, wd, momentum, eta float64, adapt bool, scratch DevicePtr) error {
	if n <= 0 {
		return nil
	}
	scale := scratch.At(4 * larsBlocks)
	if adapt {
		blocks := int(min((int64(n)+reduceThreads-1)/reduceThreads, larsBlocks))
		if err := run(r, "lars_partial", Dim3{X: uint32(blocks)}, Dim3{X: reduceThreads}, w, g, int64(n), wd, scratch); err != nil {
			return err
		}
		if err := run(r, "lars_scale", Dim3{X: 1}, Dim3{X: 1}, scratch, blocks, scale, lr, eta); err != nil {
			return err
		}
	} else if err := Fill(r, scale, float32(lr), 1); err != nil {
		return err
	}
	return loop(r, "lars_update", int64(n), w, g, buf, int64(n), scale, float32(wd), float32(momentum))
}
