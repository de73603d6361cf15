package cuda

import "fmt"

// Window is the shape of a sliding-window op, a convolution or a max pool: input N×C×H×W
// (NCHW), a K×K window moved by Stride over the input padded by Pad on every side.
type Window struct{ N, C, H, W, K, Stride, Pad int }

// OH and OW are the output's height and width.
func (g Window) OH() int { return (g.H+2*g.Pad-g.K)/g.Stride + 1 }
func (g Window) OW() int { return (g.W+2*g.Pad-g.K)/g.Stride + 1 }

// ColRows and ColCols are the column matrix's shape: C·K·K × N·OH·OW.
func (g Window) ColRows() int { return g.C * g.K * g.K }
func (g Window) ColCols() int { return g.N * g.OH() * g.OW() }

func (g Window) check() error {
	if g.N <= 0 || g.C <= 0 || g.H <= 0 || g.W <= 0 || g.K <= 0 || g.Stride <= 0 || g.Pad < 0 || g.OH() <= 0 || g.OW() <= 0 {
		return fmt.Errorf("cuda: bad window %+v", g)
	}
	return nil
}

func (g Window) args() []any {
	return []any{g.N, g.C, g.H, g.W, g.K, g.Stride, g.Pad, g.OH(), g.OW()}
}

// Im2col fills col (ColRows × ColCols) from x: row (c, ki, kj), column (n, oy, ox), the
// layout of the CPU convolution, so that W (O × C·K·K) · col is the output channel-major
// (O × N·OH·OW; CNToNCHW makes it NCHW).
func Im2col(r Runner, g Window, x, col DevicePtr) error {
	if err := g.check(); err != nil {
		return err
	}
	return loop(r, "im2col", int64(g.ColRows())*int64(g.ColCols()), append([]any{x, col}, g.args()...)...)
}

// Col2im is Im2col's adjoint: dx (N×C×H×W) gathers the column-matrix gradient dcol.
func Col2im(r Runner, g Window, dcol, dx DevicePtr) error {
	if err := g.check(); err != nil {
		return err
	}
	return loop(r, "col2im", int64(g.N*g.C)*int64(g.H*g.W), append([]any{dcol, dx}, g.args()...)...)
}

// CNToNCHW reorders a channel-major product (C × N·HW) to NCHW.
func CNToNCHW(r Runner, n, c, hw int, src, dst DevicePtr) error {
	return loop(r, "cn_to_nchw", int64(n)*int64(c)*int64(hw), src, dst, n, c, hw)
}

// NCHWToCN is the inverse, for an output gradient entering the product's backward pass.
func NCHWToCN(r Runner, n, c, hw int, src, dst DevicePtr) error {
	return loop(r, "nchw_to_cn", int64(n)*int64(c)*int64(hw), src, dst, n, c, hw)
}

// MaxPool is Gorgonia's MaxPool2D: y (N×C×OH×OW) the window maxima, mask (int32, same
// shape) the index within its plane of the input each came from.
func MaxPool(r Runner, g Window, x, y, mask DevicePtr) error {
	if err := g.check(); err != nil {
		return err
	}
	return loop(r, "maxpool_fwd", int64(g.N*g.C)*int64(g.OH()*g.OW()), append([]any{x, y, mask}, g.args()...)...)
}

// MaxPoolBackward routes dy to the inputs mask names (dx is written whole).
func MaxPoolBackward(r Runner, g Window, dy, mask, dx DevicePtr) error {
	if err := g.check(); err != nil {
		return err
	}
	return loop(r, "maxpool_bwd", int64(g.N*g.C)*int64(g.H*g.W), append([]any{dy, mask, dx}, g.args()...)...)
}

// AvgPool averages each of nc planes of hw values: the global average pool (N×C×H×W to N×C).
func AvgPool(r Runner, x, y DevicePtr, nc, hw int) error {
	return loop(r, "avgpool_fwd", int64(nc), x, y, nc, hw)
}

// AvgPoolBackward spreads each plane's gradient evenly: dx[i][j] = dy[i]/hw.
func AvgPoolBackward(r Runner, dy, dx DevicePtr, nc, hw int) error {
	return loop(r, "avgpool_bwd", int64(nc)*int64(hw), dy, dx, nc, hw)
}

// BN is a batch-norm layer's device buffers, for x of shape N×C×HW (HW 1 after a linear
// layer), optionally followed by ReLU.
type BN struct {
	N, C, HW        int
	ReLU            bool
	Gamma, Beta     DevicePtr // C: scale and shift
	RunMean, RunVar DevicePtr // C: running statistics
	Mean, IStd      DevicePtr // C: the statistics the last forward pass used
	XHat            DevicePtr // N·C·HW: the normalised input, kept for Backward
}

func (b BN) size() int64 { return int64(b.N) * int64(b.C) * int64(b.HW) }

// ForwardTrain normalises x with the batch's statistics into y, and moves the running
// statistics by momentum (the weight of the batch) towards them, with the unbiased variance.
func (b BN) ForwardTrain(r Runner, x, y DevicePtr, momentum, eps float64) error {
	if err := perBlock(r, "bn_stats", b.C, x, b.RunMean, b.RunVar, b.Mean, b.IStd, b.N, b.C, b.HW, momentum, eps); err != nil {
		return err
	}
	return b.apply(r, x, y)
}

// ForwardEval normalises x with the running statistics.
func (b BN) ForwardEval(r Runner, x, y DevicePtr, eps float64) error {
	if err := loop(r, "bn_eval_stats", int64(b.C), b.RunMean, b.RunVar, b.Mean, b.IStd, b.C, eps); err != nil {
		return err
	}
	return b.apply(r, x, y)
}

// ForwardAffine is y = γ·x + β without statistics (the trainer's test models without batch
// statistics).
func (b BN) ForwardAffine(r Runner, x, y DevicePtr) error {
	if err := Fill(r, b.Mean, 0, b.C); err != nil {
		return err
	}
	if err := Fill(r, b.IStd, 1, b.C); err != nil {
		return err
	}
	return b.apply(r, x, y)
}

func (b BN) apply(r Runner, x, y DevicePtr) error {
	return loop(r, "bn_apply", b.size(), x, b.XHat, y, b.Mean, b.IStd, b.Gamma, b.Beta, b.N, b.C, b.HW, b.ReLU)
}

// Backward computes dx, and the gradients of γ and β, from dy and the last forward pass.
// batchStats says that pass normalised with the batch's statistics (ForwardTrain), whose
// own gradient then enters dx.
func (b BN) Backward(r Runner, dy, dx, dgamma, dbeta DevicePtr, batchStats bool) error {
	if err := perBlock(r, "bn_bwd_reduce", b.C, b.XHat, dy, b.Gamma, b.Beta, dgamma, dbeta, b.N, b.C, b.HW, b.ReLU); err != nil {
		return err
	}
	return loop(r, "bn_bwd_apply", b.size(), b.XHat, dy, b.Gamma, b.Beta, b.IStd, dgamma, dbeta, dx,
		b.N, b.C, b.HW, b.ReLU, batchStats)
}
