package cuda

import "fmt"

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
