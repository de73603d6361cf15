package cuda

import (
	"math"
	"math/rand/v2"
	"testing"
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

// same compares got with want within tol of want's largest magnitude (a relative bound
// that elements near zero cannot fail by themselves).
func same(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	scale = math.Max(scale, 1e-30)
	worst, at := 0.0, -1
	for i := range got {
		e := math.Abs(float64(got[i])-float64(want[i])) / scale
		if math.IsNaN(e) || e > worst {
			worst, at = e, i
		}
	}
	if at >= 0 && (worst > tol || math.IsNaN(worst)) {
		t.Fatalf("%s: [%d] = %v, want %v (error %.3g of the largest |want| %.3g, tolerance %g)",
			what, at, got[at], want[at], worst, scale, tol)
	}
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
