package cuda

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// backend is where an op check runs: the host simulation, or a GPU (gpu_test.go). The
// checks below are the same for both.
type backend interface {
	Runner
	name() string
	alloc(t *testing.T, n int) DevicePtr // n floats, zeroed
	upload(t *testing.T, p DevicePtr, x []float32)
	download(t *testing.T, p DevicePtr, n int) []float32
	downloadInt32(t *testing.T, p DevicePtr, n int) []int32
	gemm() Gemm
	// exact: the backend rounds as the CPU does, so ops that claim to reproduce the CPU
	// op bit for bit are compared exactly.
	exact() bool
}

// tol is the relative tolerance of every comparison that is not exact: the bound the GPU
// checks are held to.
const tol = 1e-4

func randVec(rng *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = (rng.Float32()*2 - 1) * scale
	}
	return x
}

// put allocates device memory holding x.
func put(t *testing.T, b backend, x []float32) DevicePtr {
	t.Helper()
	p := b.alloc(t, len(x))
	b.upload(t, p, x)
	return p
}

// same compares got with want: exactly when the op claims to round as the CPU op does
// (exact) and b and the references round every operation separately, else within tol of
// want's largest magnitude (a relative bound that elements near zero cannot fail by
// themselves).
func same(t *testing.T, b backend, what string, got, want []float32, exact bool) {
	t.Helper()
	exact = exact && b.exact() && refUnfused
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
		if exact {
			if got[i] != want[i] && !(got[i] == 0 && want[i] == 0) {
				t.Fatalf("%s: [%d] = %v, want exactly %v", what, i, got[i], want[i])
			}
			continue
		}
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

// opCheck is one op against its reference.
type opCheck struct {
	name string
	run  func(t *testing.T, b backend, rng *rand.Rand)
}

// runOpChecks runs every check on b, with a fixed seed per check.
func runOpChecks(t *testing.T, b backend) {
	for i, c := range slices.Concat(layerChecks, stepChecks) {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, b, rand.New(rand.NewPCG(uint64(i)+1, 7)))
		})
	}
}

// hostGemm is the row-major product on the host simulation's memory, with gonum.
type hostGemm struct{ h *HostRunner }

func (g hostGemm) SgemmRowMajor(transA, transB bool, m, n, k int, alpha float32, a DevicePtr, lda int,
	bm DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	A, B, C := make([]float32, ar*lda), make([]float32, br*ldb), make([]float32, m*ldc)
	for _, x := range []struct {
		dst []float32
		p   DevicePtr
	}{{A, a}, {B, bm}, {C, c}} {
		if err := g.h.Download(x.dst, x.p); err != nil {
			return err
		}
	}
	tr := func(b bool) blas.Transpose {
		if b {
			return blas.Trans
		}
		return blas.NoTrans
	}
	blas32.Gemm(tr(transA), tr(transB), alpha,
		blas32.General{Rows: ar, Cols: ac, Stride: lda, Data: A},
		blas32.General{Rows: br, Cols: bc, Stride: ldb, Data: B}, beta,
		blas32.General{Rows: m, Cols: n, Stride: ldc, Data: C})
	return g.h.Upload(c, C)
}
