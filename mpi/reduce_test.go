package mpi

import (
	"math"
	"testing"
)

func TestChunkRange(t *testing.T) {
	for _, tc := range []struct{ n, size int }{{0, 2}, {1, 3}, {7, 3}, {12, 4}, {1000, 7}, {5, 8}} {
		next := 0
		for j := range tc.size {
			lo, hi := chunkRange(tc.n, tc.size, j)
			if lo != next || hi < lo || hi-lo > tc.n/tc.size+1 || hi-lo < tc.n/tc.size {
				t.Errorf("n %d size %d: chunk %d = [%d, %d) after %d", tc.n, tc.size, j, lo, hi, next)
			}
			next = hi
		}
		if next != tc.n {
			t.Errorf("n %d size %d: chunks end at %d", tc.n, tc.size, next)
		}
	}
}

// TestAddInOrder: contributions are added left to right, rank 0 first, as the trainer adds its
// replicas: 1e8 + -1e8 + 1 is 1, where adding the last two first gives 0.
func TestAddInOrder(t *testing.T) {
	parts := []float32{
		1e8, 3, 0.1, // rank 0's contributions to a chunk of three
		-1e8, 5, 0.2,
		1, 7, 0.3,
	}
	dst := make([]float32, 3)
	addInOrder(dst, parts)
	want := []float32{1, 15, (0.1 + float32(0.2)) + 0.3}
	for i := range want {
		if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
			t.Errorf("dst[%d] = %v, want %v", i, dst[i], want[i])
		}
	}
	if other := float32(1e8) + (float32(-1e8) + 1); other == dst[0] {
		t.Errorf("the case does not tell orders apart: %v", other)
	}
}

// TestSoloWorld: a process no launcher started is a world of one in both builds.
func TestSoloWorld(t *testing.T) {
	w, err := newWorld(launch{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Rank() != 0 || w.Size() != 1 || w.LocalRank() != 0 || w.LocalSize() != 1 {
		t.Fatalf("rank %d size %d local %d/%d", w.Rank(), w.Size(), w.LocalRank(), w.LocalSize())
	}
	if got, err := w.Bcast([]byte("state")); string(got) != "state" || err != nil {
		t.Errorf("Bcast: %q, %v", got, err)
	}
	recv := make([]float32, 2)
	if err := w.Allgather([]float32{1, 2}, recv); err != nil || recv[0] != 1 || recv[1] != 2 {
		t.Errorf("Allgather: %v, %v", recv, err)
	}
	if err := w.Allgather([]float32{1, 2}, recv[:1]); err == nil {
		t.Error("Allgather into a short buffer: no error")
	}
	x := []float32{1, 2, 3}
	if err := w.NewReducer(2).Sum(x, nil, x[:1]); err != nil || x[0] != 1 || x[2] != 3 {
		t.Errorf("Sum: %v, %v", x, err)
	}
	if err := w.Agree("config hash", []byte("h")); err != nil {
		t.Errorf("Agree: %v", err)
	}
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	if err := w.Finalize(); err != nil {
		t.Errorf("second Finalize: %v", err)
	}
	if err := w.Barrier(); err != ErrFinalized {
		t.Errorf("Barrier after Finalize: %v", err)
	}
}
