package cuda

import "fmt"

// Runner launches one of natssl's kernels by name: *Stream on a GPU, *HostRunner on the CPU.
// The op functions (ops.go, ops_conv.go, ops_bn.go, ops_optim.go) take a Runner and device
// addresses, and choose the launch shape each kernel needs.
type Runner interface {
	Run(kernel string, grid, block Dim3, args ...any) error
}

var (
	_ Runner = (*Stream)(nil)
	_ Runner = (*HostRunner)(nil)
)

const (
	// blockThreads is the block size of the grid-stride kernels.
	blockThreads = 256
	// maxBlocks caps their grid: beyond it each thread takes several elements.
	maxBlocks = 65536
	// reduceThreads is REDUCE_THREADS of kernels/common.cuh: the block size of the
	// cooperative kernels.
	reduceThreads = 256
)

// loop launches a grid-stride kernel over n elements.
func loop(r Runner, kernel string, n int64, args ...any) error {
	if n <= 0 {
		return nil
	}
	blocks := min((n+blockThreads-1)/blockThreads, maxBlocks)
	return run(r, kernel, Dim3{X: uint32(blocks)}, Dim3{X: blockThreads}, args...)
}

func run(r Runner, kernel string, grid, block Dim3, args ...any) error {
	if err := r.Run(kernel, grid, block, args...); err != nil {
		return fmt.Errorf("cuda: %s: %w", kernel, err)
	}
	return nil
}

// NCHWToNHWC writes n images of c planes of hw pixels (x) channels-last into y.
func NCHWToNHWC(r Runner, x, y DevicePtr, n, c, hw int) error {
	return loop(r, "nchw_to_nhwc", int64(n)*int64(c)*int64(hw), x, y, n, c, hw)
}

// CopyTo copies n floats of src to dst.
func CopyTo(r Runner, dst, src DevicePtr, n int) error {
	return loop(r, "copy_to", int64(n), dst, src, int64(n))
}

// AddTo adds n floats of src to dst, one rounding each (replica gradient sums are exact).
func AddTo(r Runner, dst, src DevicePtr, n int) error {
	return loop(r, "add_to", int64(n), dst, src, int64(n))
}

// ReLUMask zeroes dy where y ≤ 0: the backward of a ReLU whose output is y.
func ReLUMask(r Runner, dy, y DevicePtr, n int) error {
	return loop(r, "relu_mask", int64(n), dy, y, int64(n))
}

// Fill sets n floats to v.
func Fill(r Runner, x DevicePtr, v float32, n int) error {
	return loop(r, "fill", int64(n), x, v, int64(n))
}

// BiasRows writes the bias b (cols) into every row of y (rows × cols), ready for a product
// that adds to it (a linear layer: beta 1).
func BiasRows(r Runner, y, b DevicePtr, rows, cols int) error {
	return loop(r, "bias_rows", int64(rows)*int64(cols), y, b, rows, cols)
}

// SumRows is the bias gradient db[j] = Σ_i dy[i][j] of dy (rows × cols), in row order.
func SumRows(r Runner, dy, db DevicePtr, rows, cols int) error {
	return loop(r, "sum_rows", int64(cols), dy, db, rows, cols)
}

// ReLU writes max(x, 0) into y, n floats.
func ReLU(r Runner, x, y DevicePtr, n int) error {
	return loop(r, "relu", int64(n), x, y, int64(n))
}

// EMA is a target network's step on one tensor of n floats: t = a·t + c·o.
func EMA(r Runner, t, o DevicePtr, a, c float32, n int) error {
	return loop(r, "ema", int64(n), t, o, a, c, int64(n))
}
