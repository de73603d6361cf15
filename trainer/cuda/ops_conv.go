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
