package mpi

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// resnet18CIFAR are the parameter lengths of resnet18-cifar's encoder (3×3 stem, no max-pool,
// four stages of two basic blocks, batch-norm scale and shift), in graph order: about 11.2
// million floats, the gradient a step all-reduces.
func resnet18CIFAR() []int {
	var lens []int
	conv := func(in, out, k int) { lens = append(lens, in*out*k*k, out, out) } // weights, BN γ, β
	conv(3, 64, 3)
	in := 64
	for _, out := range []int{64, 128, 256, 512} {
		for b := range 2 {
			conv(in, out, 3)
			conv(out, out, 3)
			if b == 0 && in != out {
				conv(in, out, 1)
			}
			in = out
		}
	}
	return lens
}

// BenchmarkSum all-reduces 1024 floats (the fixed cost of a call) and resnet18-cifar's
// gradients: the ordered sum (flat, as the trainer's 60 buffers, which packs the small ones,
// and in buckets of 1M floats) against the library's MPI_Allreduce. It needs ranks:
// scripts/bench-mpi.sh runs it under mpirun with a fixed iteration count (-benchtime Nx),
// which every rank must share.
func BenchmarkSum(b *testing.B) {
	w, err := Init()
	if err != nil {
		b.Fatal(err)
	}
	if w.Size() == 1 {
		b.Skip("a world of one: run under mpirun (scripts/bench-mpi.sh)")
	}
	lens := resnet18CIFAR()
	total := 0
	for _, n := range lens {
		total += n
	}
	rng := rand.New(rand.NewPCG(1, uint64(w.Rank())))
	flat := make([]float32, total)
	for i := range flat {
		flat[i] = float32(rng.NormFloat64())
	}
	bufs := make([][]float32, len(lens))
	for i, off := 0, 0; i < len(lens); off, i = off+lens[i], i+1 {
		bufs[i] = flat[off : off+lens[i]]
	}
	small := flat[:1<<10]
	r, r1M := w.NewReducer(0), w.NewReducer(1<<20)
	mpiAllreduce := func(x []float32) func() error {
		return func() error { return w.call(func() error { return w.c.allreduceUnordered(x) }) }
	}
	for _, bc := range []struct {
		name string
		n    int
		sum  func() error
	}{
		{"ordered", len(small), func() error { return r.Sum(small) }},
		{"MPI_Allreduce", len(small), mpiAllreduce(small)},
		{"ordered", total, func() error { return r.Sum(flat) }},
		{"ordered/buffers", total, func() error { return r.Sum(bufs...) }},
		{"ordered/bucket=1M", total, func() error { return r1M.Sum(flat) }},
		{"MPI_Allreduce", total, mpiAllreduce(flat)},
	} {
		b.Run(fmt.Sprintf("%s/floats=%d", bc.name, bc.n), func(b *testing.B) {
			if err := w.Agree("iteration count", fmt.Append(nil, b.N)); err != nil {
				b.Fatalf("%v: give every rank the same -benchtime Nx", err)
			}
			b.SetBytes(int64(4 * bc.n))
			for b.Loop() {
				if err := bc.sum(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
