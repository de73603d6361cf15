package cuda

import (
	"math/rand/v2"
	"testing"

	"github.com/natssl/natssl/trainer/cuda/cudatest"
)

// The kernels are checked against the trainer's CPU kernels in package trainer
// (cuda_ops_test.go there): on the host simulation everywhere, on a GPU where there is one.
// The tests here check what this package does by itself: the library lookup, the kernel
// cache, the host simulation, and on a GPU the memory, copies and cuBLAS products.

// testMem is memory a test writes and reads: a GPU's (gpu_test.go) or the host simulation's.
type testMem interface {
	alloc(t *testing.T, n int) DevicePtr // n floats, zeroed
	upload(t *testing.T, p DevicePtr, x []float32)
	download(t *testing.T, p DevicePtr, n int) []float32
}

// tol is the relative tolerance of the GPU's products against float64 sums.
const tol = 1e-4

func randVec(rng *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = (rng.Float32()*2 - 1) * scale
	}
	return x
}

// put allocates memory holding x.
func put(t *testing.T, b testMem, x []float32) DevicePtr {
	t.Helper()
	p := b.alloc(t, len(x))
	b.upload(t, p, x)
	return p
}

// same compares got with want within tol of want's largest magnitude (cudatest.Near).
func same(t *testing.T, what string, got, want []float32) {
	t.Helper()
	cudatest.Near(t, what, got, want, tol)
}

// refGemm is a row-major product in float64 sums.
func refGemm(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float32 {
	out := append([]float32(nil), c...)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				ai, bi := i*lda+l, l*ldb+j
				if ta {
					ai = l*lda + i
				}
				if tb {
					bi = j*ldb + l
				}
				av, bv := a[ai], b[bi]
				s += float64(av) * float64(bv)
			}
			out[i*ldc+j] = float32(float64(alpha)*s + float64(beta)*float64(c[i*ldc+j]))
		}
	}
	return out
}
