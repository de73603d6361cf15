package loader

import "context"

// Repeat returns a source whose every epoch reads src's shards k times over (the same
// samples k times, each time with its own place in the stream and so its own augmentation).
// Benchmarks use it to stream millions of samples from a few real images.
func Repeat(src Source, k int) Source {
	if k <= 1 {
		return src
	}
	return &repeated{src: src, k: k}
}

type repeated struct {
	src Source
	k   int
}

func (r *repeated) Shards() []Shard {
	one := r.src.Shards()
	out := make([]Shard, 0, len(one)*r.k)
	for range r.k {
		out = append(out, one...)
	}
	return out
}

func (r *repeated) Len(ctx context.Context) (int64, error) {
	n, err := r.src.Len(ctx)
	return n * int64(r.k), err
}

func (r *repeated) Close() error { return r.src.Close() }
