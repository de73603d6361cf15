package cuda

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGPUMemory: device memory round trips, copies and fills, and the memory figures.
func TestGPUMemory(t *testing.T) {
	dev := gpu(t)
	s := gpuStream(t, dev)
	n := 1<<20 + 3
	x := randVec(rand.New(rand.NewPCG(1, 2)), n, 1)
	a, err := dev.AllocFloats(n)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Free(a)
	b, err := dev.AllocFloats(n)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Free(b)
	if err := s.Upload(a, x); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyAsync(b, a, n); err != nil {
		t.Fatal(err)
	}
	if err := s.FillAsync(a.At(5), 2, 7); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, n)
	if err := s.Download(got, b); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if got[i] != x[i] {
			t.Fatalf("[%d] = %v, want %v", i, got[i], x[i])
		}
	}
	if err := s.Download(got[:8], a); err != nil {
		t.Fatal(err)
	}
	if got[5] != 7 || got[6] != 7 || got[4] != x[4] || got[7] != x[7] {
		t.Errorf("fill: %v", got[:8])
	}
	free, total, err := dev.MemInfo()
	if err != nil || free <= 0 || free > total || total != dev.Memory {
		t.Errorf("MemInfo %d free of %d (%v), device memory %d", free, total, err, dev.Memory)
	}
}

// TestGPUPinnedAsync: pinned uploads and downloads queued on two streams, ordered by an event.
func TestGPUPinnedAsync(t *testing.T) {
	dev := gpu(t)
	s1, s2 := gpuStream(t, dev), gpuStream(t, dev)
	n := 1 << 20
	in, err := dev.AllocHost(n)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Free()
	out, err := dev.AllocHost(n)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Free()
	copy(in.Floats(), randVec(rand.New(rand.NewPCG(3, 4)), n, 1))
	a, _ := dev.AllocFloats(n)
	b, _ := dev.AllocFloats(n)
	defer dev.Free(a)
	defer dev.Free(b)
	start, _ := dev.NewEvent(true)
	uploaded, _ := dev.NewEvent(true)
	defer start.Close()
	defer uploaded.Close()
	if err := s1.Record(start); err != nil {
		t.Fatal(err)
	}
	if err := s1.UploadAsync(a, in, 0, n); err != nil {
		t.Fatal(err)
	}
	if err := s1.Record(uploaded); err != nil {
		t.Fatal(err)
	}
	if err := s2.Wait(uploaded); err != nil {
		t.Fatal(err)
	}
	if err := s2.CopyAsync(b, a, n); err != nil {
		t.Fatal(err)
	}
	if err := s2.DownloadAsync(out, 0, n, b); err != nil {
		t.Fatal(err)
	}
	if err := s2.Synchronize(); err != nil {
		t.Fatal(err)
	}
	for i, v := range in.Floats() {
		if out.Floats()[i] != v {
			t.Fatalf("[%d] = %v, want %v", i, out.Floats()[i], v)
		}
	}
	d, err := Elapsed(start, uploaded)
	if err != nil || d <= 0 {
		t.Errorf("upload took %v (%v)", d, err)
	}
	t.Logf("4 MiB pinned upload: %v", d)
	if err := s1.UploadAsync(a, in, n-1, 2); err == nil {
		t.Error("a copy past the host buffer's end: no error")
	}
}

// TestGPUOutOfMemory: an allocation beyond the device's memory is a MemoryError with the sizes.
func TestGPUOutOfMemory(t *testing.T) {
	dev := gpu(t)
	_, err := dev.Alloc(2 * dev.Memory)
	var me *MemoryError
	if !errors.Is(err, ErrOutOfMemory) || !errors.As(err, &me) {
		t.Fatalf("got %v, want a MemoryError", err)
	}
	if me.Requested != 2*dev.Memory || me.Total != dev.Memory || me.Free <= 0 || me.Device != dev.Index {
		t.Errorf("%+v", me)
	}
	t.Log(err)
}

// TestGPUSgemm: cuBLAS row-major products in every transposition against float64 sums;
// the strided batch; TF32 on and off.
func TestGPUSgemm(t *testing.T) {
	dev := gpu(t)
	s := gpuStream(t, dev)
	bl, err := s.NewBLAS()
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Close()
	be := &deviceBackend{Stream: s, dev: dev, blas: bl}
	rng := rand.New(rand.NewPCG(5, 6))
	m, n, k := 33, 65, 17
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			lda, ldb := k, n
			if ta {
				lda = m
			}
			if tb {
				ldb = k
			}
			a, b, c := randVec(rng, m*k, 1), randVec(rng, k*n, 1), randVec(rng, m*n, 1)
			pa, pb, pc := put(t, be, a), put(t, be, b), put(t, be, c)
			if err := bl.SgemmRowMajor(ta, tb, m, n, k, 0.5, pa, lda, pb, ldb, 2, pc, n); err != nil {
				t.Fatal(err)
			}
			same(t, "sgemm", be.download(t, pc, m*n), refGemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 2, c, n))
		}
	}
	// Batched: three independent products.
	batch := 3
	a, b := randVec(rng, batch*m*k, 1), randVec(rng, batch*k*n, 1)
	pa, pb, pc := put(t, be, a), put(t, be, b), be.alloc(t, batch*m*n)
	if err := bl.SgemmStridedBatchedRowMajor(false, false, m, n, k, 1, pa, k, int64(m*k), pb, n, int64(k*n), 0, pc, n, int64(m*n), batch); err != nil {
		t.Fatal(err)
	}
	got := be.download(t, pc, batch*m*n)
	for i := 0; i < batch; i++ {
		want := refGemm(false, false, m, n, k, 1, a[i*m*k:], k, b[i*k*n:], n, 0, make([]float32, m*n), n)
		same(t, "batched sgemm", got[i*m*n:(i+1)*m*n], want)
	}
	// TF32: 10-bit mantissas in, float32 sums out: within 1e-2 of the float32 product.
	kk := 512
	a, b = randVec(rng, m*kk, 1), randVec(rng, kk*n, 1)
	pa, pb, pc = put(t, be, a), put(t, be, b), be.alloc(t, m*n)
	want := refGemm(false, false, m, n, kk, 1, a, kk, b, n, 0, make([]float32, m*n), n)
	for _, on := range []bool{true, false} {
		if err := bl.SetTF32(on); err != nil {
			t.Fatal(err)
		}
		if err := bl.SgemmRowMajor(false, false, m, n, kk, 1, pa, kk, pb, n, 0, pc, n); err != nil {
			t.Fatal(err)
		}
		got := be.download(t, pc, m*n)
		var worst, scale float64
		for i := range got {
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
			scale = math.Max(scale, math.Abs(float64(want[i])))
		}
		t.Logf("TF32 %v: largest error %.3g of %.3g", on, worst, scale)
		if bound := map[bool]float64{true: 1e-2, false: tol}[on]; worst > bound*scale {
			t.Errorf("TF32 %v: error %.3g over %.3g of the largest value", on, worst/scale, bound)
		}
	}
}
