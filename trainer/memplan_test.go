package trainer

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMemoryPlan: the planned slab gives buffers alive at the same time disjoint memory,
// serves the recorded sizes in order, is no larger than the recycling pool that recorded
// them, and refuses a pass that asks for other sizes than the plan's.
func TestMemoryPlan(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			p := bufPool{record: true, owner: map[*float32]int{}}
			var live []mem
			var sizes []int
			for i := 0; i < 200; i++ {
				if len(live) > 0 && rng.IntN(3) == 0 {
					k := rng.IntN(len(live))
					p.put(live[k])
					live = append(live[:k], live[k+1:]...)
					continue
				}
				n := 1 + rng.IntN(1000)
				live = append(live, p.get(n))
				sizes = append(sizes, n)
			}
			for _, b := range live {
				p.put(b)
			}
			recycled := 0
			for _, b := range p.free {
				recycled += cap(b.h)
			}
			const scale = 3
			plan := p.planned(scale)
			for i, a := range plan {
				if a.size != scale*sizes[i] || a.off%16 != 0 {
					t.Fatalf("buffer %d: size %d at %d, recorded %d", i, a.size, a.off, sizes[i])
				}
				for _, b := range plan[:i] {
					if a.from < b.to && b.from < a.to && a.off < b.off+b.size && b.off < a.off+a.size {
						t.Fatalf("buffers alive together overlap: %+v and %+v", a, b)
					}
				}
			}
			var q bufPool
			q.usePlan(plan, cpuBackend{}.alloc(slabSize(plan)))
			if q.slab.n > scale*recycled+16*len(plan) {
				t.Errorf("slab of %d floats, recycling held %d", q.slab.n, scale*recycled)
			}
			q.start()
			for _, n := range sizes {
				if b := q.get(scale * n); b.n != scale*n || len(b.h) != scale*n {
					t.Fatalf("got %d floats, want %d", b.n, scale*n)
				}
			}
			defer func() {
				if recover() == nil {
					t.Error("a request off the plan was served")
				}
			}()
			q.get(1)
		})
	}
}
