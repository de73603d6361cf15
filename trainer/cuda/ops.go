package cuda

import "fmt"

// Runner launches one of natssl's kernels by name: *Stream on a GPU, *HostRunner on the CPU.
// The op functions (ops.go, ops_layers.go, ops_step.go) take a Runner and device addresses, and choose the
// launch shape each kernel needs.
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
	maxBlocks = 4096
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

// perBlock launches a cooperative kernel with one block for each of n rows or channels.
func perBlock(r Runner, kernel string, n int, args ...any) error {
	if n <= 0 {
		return nil
	}
	return run(r, kernel, Dim3{X: uint32(n)}, Dim3{X: reduceThreads}, args...)
}

func run(r Runner, kernel string, grid, block Dim3, args ...any) error {
	if err := r.Run(kernel, grid, block, args...); err != nil {
		return fmt.Errorf("cuda: %s: %w", kernel, err)
	}
	return nil
}

// ReLU is y = x·[x ≥ 0] over n floats (Gorgonia's Rectify).
func ReLU(r Runner, x, y DevicePtr, n int) error {
	return loop(r, "relu_fwd", int64(n), x, y, int64(n))
}

// ReLUBackward is dx = dy·[x ≥ 0], from ReLU's input x.
func ReLUBackward(r Runner, x, dy, dx DevicePtr, n int) error {
	return loop(r, "relu_bwd", int64(n), x, dy, dx, int64(n))
}

// Add is y = a + b (the residual sum; its gradient passes to both inputs unchanged).
func Add(r Runner, a, b, y DevicePtr, n int) error {
	return loop(r, "add", int64(n), a, b, y, int64(n))
}

// AddReLU is the residual sum and the ReLU after it: sum = a + b, y = ReLU(sum). Its
// gradient is ReLUBackward from sum.
func AddReLU(r Runner, a, b, sum, y DevicePtr, n int) error {
	return loop(r, "add_relu", int64(n), a, b, sum, y, int64(n))
}

// Scale multiplies n floats by alpha in place.
func Scale(r Runner, x DevicePtr, alpha float32, n int) error {
	return loop(r, "scale", int64(n), x, alpha, int64(n))
}

// Axpy adds alpha·x to y (alpha 1 sums two replicas' gradients exactly).
func Axpy(r Runner, y, x DevicePtr, alpha float32, n int) error {
	return loop(r, "axpy", int64(n), y, x, alpha, int64(n))
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

// SumRows is the bias gradient db[j] = Σ_i dy[i][j] of dy (rows × cols).
func SumRows(r Runner, dy, db DevicePtr, rows, cols int) error {
	return loop(r, "sum_rows", int64(cols), dy, db, rows, cols)
}
