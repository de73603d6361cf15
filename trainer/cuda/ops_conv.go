package cuda

import "fmt"

// Geom is the shape of a convolution or pooling window over channels-last activations: N
// images of H×W pixels and C channels in, O channels of OH×OW out, K×K windows at stride S
// with P pixels of zero padding.
type Geom struct{ N, H, W, C, O, K, S, P int }

// OH and OW are the output's height and width.
func (g Geom) OH() int { return (g.H+2*g.P-g.K)/g.S + 1 }
func (g Geom) OW() int { return (g.W+2*g.P-g.K)/g.S + 1 }

// Rows is the number of output pixels, N·OH·OW; ColWidth the length of a column-matrix
// row, K·K·C.
func (g Geom) Rows() int     { return g.N * g.OH() * g.OW() }
func (g Geom) ColWidth() int { return g.K * g.K * g.C }

func (g Geom) check() error {
	if g.N <= 0 || g.C <= 0 || g.H <= 0 || g.W <= 0 || g.O <= 0 || g.K <= 0 || g.S <= 0 || g.P < 0 || g.OH() <= 0 || g.OW() <= 0 {
		return fmt.Errorf("cuda: bad geometry %+v", g)
	}
	return nil
}

// checkRows refuses a block of rows outside [0, Rows).
func (g Geom) checkRows(r0, rows int) error {
	if err := g.check(); err != nil {
		return err
	}
	if r0 < 0 || rows <= 0 || r0+rows > g.Rows() {
		return fmt.Errorf("cuda: rows [%d, %d) outside the %d of %+v", r0, r0+rows, g.Rows(), g)
	}
	return nil
}

// WeightsKCO lays w (O × C × K × K, PyTorch's layout) out as the (ki, kj, c) × o matrix wk
// of the column-matrix product; WeightsKCOBack is its inverse, for the weight gradient.
func WeightsKCO(r Runner, g Geom, w, wk DevicePtr) error {
	return loop(r, "weights_kco", int64(g.O)*int64(g.ColWidth()), w, wk, g.O, g.C, g.K*g.K)
}

func WeightsKCOBack(r Runner, g Geom, dwk, dw DevicePtr) error {
	return loop(r, "weights_kco_back", int64(g.O)*int64(g.ColWidth()), dwk, dw, g.O, g.C, g.K*g.K)
}

// Im2col writes rows r0 … r0+rows−1 of the column matrix of x into col (rows × ColWidth):
// row (n, oy, ox) holds the input pixels under that output pixel, (ki, kj, c) in order.
func Im2col(r Runner, g Geom, x, col DevicePtr, r0, rows int) error {
	if err := g.checkRows(r0, rows); err != nil {
		return err
	}
	return loop(r, "im2col", int64(rows)*int64(g.ColWidth()), x, col, g.H, g.W, g.C, g.K, g.S, g.P,
		g.OH(), g.OW(), int64(r0), int64(rows))
}

// Col2im adds rows r0 … r0+rows−1 of a column-matrix gradient into dx: Im2col's adjoint.
func Col2im(r Runner, g Geom, dcol, dx DevicePtr, r0, rows int) error {
	if err := g.checkRows(r0, rows); err != nil {
		return err
	}
	plane := g.OH() * g.OW()
	images := (r0+rows-1)/plane - r0/plane + 1
	return loop(r, "col2im", int64(images)*int64(g.H*g.W*g.C), dcol, dx, g.H, g.W, g.C, g.K, g.S, g.P,
		g.OH(), g.OW(), int64(r0), int64(rows))
}

// Subsample writes rows r0 … r0+rows−1 of the input of a 1×1 convolution at stride S (no
// padding): the pixels (oy·S, ox·S) of x. SubsampleBack adds such rows back into dx.
func Subsample(r Runner, g Geom, x, col DevicePtr, r0, rows int) error {
	if err := g.checkRows(r0, rows); err != nil {
		return err
	}
	return loop(r, "subsample", int64(rows)*int64(g.C), x, col, g.H, g.W, g.C, g.S, g.OH(), g.OW(), int64(r0), int64(rows))
}

func SubsampleBack(r Runner, g Geom, dcol, dx DevicePtr, r0, rows int) error {
	if err := g.checkRows(r0, rows); err != nil {
		return err
	}
	return loop(r, "subsample_back", int64(rows)*int64(g.C), dcol, dx, g.H, g.W, g.C, g.S, g.OH(), g.OW(), int64(r0), int64(rows))
}

// MaxPool takes the maximum over each window of x (padding never wins) into y (Rows × C).
func MaxPool(r Runner, g Geom, x, y DevicePtr) error {
	if err := g.check(); err != nil {
		return err
	}
	return loop(r, "maxpool", int64(g.Rows())*int64(g.C), x, y, g.H, g.W, g.C, g.K, g.S, g.P, g.OH(), g.OW(), int64(g.N))
}

// MaxPoolArgInts is the size of MaxPoolBack's scratch, in int32s.
func (g Geom) MaxPoolArgInts() int { return g.Rows() * g.C }

// MaxPoolBack adds each output gradient dy to the first input value of its window (in scan
// order) that equals the window's maximum y; arg is scratch of MaxPoolArgInts int32s.
func MaxPoolBack(r Runner, g Geom, x, y, dy, dx, arg DevicePtr) error {
	if err := g.check(); err != nil {
		return err
	}
	if err := loop(r, "maxpool_arg", int64(g.Rows())*int64(g.C), x, y, arg, g.H, g.W, g.C, g.K, g.S, g.P, g.OH(), g.OW(), int64(g.N)); err != nil {
		return err
	}
	return loop(r, "maxpool_back", int64(g.N)*int64(g.H*g.W*g.C), dy, arg, dx, g.H, g.W, g.C, g.K, g.S, g.P, g.OH(), g.OW(), int64(g.N))
}

// AvgPool averages each image's hw rows of x (n·hw × c) into out (n × c); AvgPoolBack
// spreads dout evenly back over them.
func AvgPool(r Runner, x, out DevicePtr, n, hw, c int) error {
	return loop(r, "avgpool", int64(n)*int64(c), x, out, n, hw, c)
}

func AvgPoolBack(r Runner, dout, dx DevicePtr, n, hw, c int) error {
	return loop(r, "avgpool_back", int64(n)*int64(hw)*int64(c), dout, dx, n, hw, c)
}
