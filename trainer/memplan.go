package trainer

import (
	"fmt"
	"sort"

	G "gorgonia.org/gorgonia"

	"github.com/natssl/natssl/configs"
)

// bufPool hands out a backbone's buffers. A pass (forward, then backward in training) asks
// for the same sizes in the same order every time, so the pool plans once where each buffer
// lives in one slab: buffers whose lifetimes overlap never share memory, and the others do,
// whatever their sizes. The slab is then little more than the most memory live at one time,
// where recycling freed buffers by size would also hold, at the end of the backward pass,
// every large buffer of the first layers beside the smaller ones the deep layers freed.
//
// The plan comes from a pass of the same backbone on one image (planMemory): every request
// is an activation's size, so it scales with the batch. Until a plan is set the pool
// recycles buffers (smallest free one that fits) and records each request and release.
type bufPool struct {
	free []mem // recycling (host memory)

	record bool
	events []poolBuf        // recorded requests, in order
	owner  map[*float32]int // recorded: buffer → its request
	clock  int

	plan []poolBuf // planned: request i's size and offset in slab
	slab mem       // the backend's memory
	next int       // requests served in the current pass
}

// poolBuf is one request: its size, lifetime (recording) and place in the slab (plan).
type poolBuf struct {
	size, from, to, off int
}

// start begins a pass.
func (p *bufPool) start() { p.next = 0 }

func (p *bufPool) get(n int) mem {
	if p.plan != nil {
		if p.next >= len(p.plan) || p.plan[p.next].size != n {
			panic(fmt.Sprintf("trainer: backbone buffer %d of %d floats is not the plan's", p.next, n))
		}
		b := p.plan[p.next]
		p.next++
		return p.slab.slice(b.off, n)
	}
	best := -1
	for i, b := range p.free {
		if cap(b.h) >= n && (best < 0 || cap(b.h) < cap(p.free[best].h)) {
			best = i
		}
	}
	var b []float32
	if best < 0 {
		b = make([]float32, n)
	} else {
		b = p.free[best].h[:n]
		p.free = append(p.free[:best], p.free[best+1:]...)
	}
	if p.record {
		p.owner[&b[:1][0]] = len(p.events)
		p.events = append(p.events, poolBuf{size: n, from: p.clock, to: -1})
		p.clock++
	}
	return hostMem(b)
}

func (p *bufPool) put(b mem) {
	if p.plan != nil {
		return
	}
	if p.record {
		p.events[p.owner[&b.h[:1][0]]].to = p.clock
		p.clock++
	}
	p.free = append(p.free, b)
}

// planned returns the plan for the recorded pass with every size multiplied by scale: the
// largest buffers placed first, each at the lowest offset (in steps of 16 floats, one
// cache line) that no buffer alive at the same time covers.
func (p *bufPool) planned(scale int) []poolBuf {
	plan := make([]poolBuf, len(p.events))
	order := make([]int, len(p.events))
	for i, e := range p.events {
		e.size *= scale
		if e.to < 0 {
			e.to = p.clock
		}
		plan[i], order[i] = e, i
	}
	sort.SliceStable(order, func(a, b int) bool { return plan[order[a]].size > plan[order[b]].size })
	var placed []int
	for _, i := range order {
		b := &plan[i]
		var busy [][2]int // address ranges of placed buffers alive at the same time
		for _, j := range placed {
			if o := plan[j]; o.from < b.to && b.from < o.to {
				busy = append(busy, [2]int{o.off, o.off + (o.size+15)/16*16})
			}
		}
		sort.Slice(busy, func(x, y int) bool { return busy[x][0] < busy[y][0] })
		for _, r := range busy {
			if b.off+b.size <= r[0] {
				break
			}
			b.off = max(b.off, r[1])
		}
		placed = append(placed, i)
	}
	return plan
}

// slabSize is the floats a plan's slab holds.
func slabSize(plan []poolBuf) int {
	total := 0
	for _, b := range plan {
		total = max(total, b.off+b.size)
	}
	return total
}

// usePlan sets the pool to serve plan from slab (slabSize(plan) floats).
func (p *bufPool) usePlan(plan []poolBuf, slab mem) {
	*p = bufPool{plan: plan, slab: slab}
}

// planMemory runs a twin of bb on one image (the same steps, built the same way, on a
// backend that computes nothing) to record its buffer requests, and sets bb's pool to
// serve them, scaled to bb's batch, from one slab of bb's backend.
func (b *builder) planMemory(m configs.Model, bb *backbone) error {
	tb := &builder{g: G.NewGraph(), store: b.store, be: planBackend{}, train: b.train, stats: b.stats, noBN: b.noBN,
		winograd: b.winograd, scratch: &convScratch{}}
	twin, err := tb.backbone(m, 1, bb.c, bb.size)
	if err != nil {
		return err
	}
	twin.w = make([]mem, len(bb.w))
	twin.dw = make([]mem, len(bb.dw))
	twin.pool = bufPool{record: true, owner: map[*float32]int{}}
	twin.forward()
	if twin.train {
		twin.backward()
	}
	plan := twin.pool.planned(bb.n)
	bb.pool.usePlan(plan, b.be.alloc(slabSize(plan)))
	return nil
}
