package mpi

// DefaultBucket is the bucket length NewReducer takes for 0: 4 Mi floats (16 MiB), about the
// size at which a bucket's transfer time dwarfs a collective's fixed cost.
const DefaultBucket = 1 << 22

// Reducer sums float32 buffers (gradients) over all ranks, bucket by bucket, so that the
// result is the same bits on every rank and equal to adding the ranks' buffers in rank
// order, r0 + r1 + r2 + ... left to right, whatever the MPI library's own algorithms.
//
// How the order is kept: each bucket is cut into Size chunks, chunk j owned by rank j. Every
// rank sends its contribution to chunk j to rank j (MPI_Alltoallv: bytes moved, nothing
// added); the owner adds the Size contributions in rank order in Go; the owners' sums are
// then sent to everyone (MPI_Allgatherv, bytes again). Each element is thus added by one
// rank, in one fixed order, and only copied after: the same reduce-scatter + all-gather
// traffic as a ring all-reduce, 2·(Size−1)/Size of the bucket in and out per rank.
//
// A Reducer keeps its scratch memory (about two buckets) between calls; it is used by one
// goroutine at a time.
type Reducer struct {
	w      *World
	bucket int
	pieces [][]float32 // the current bucket's pieces
	pack   []float32   // the pieces together, when a bucket spans buffers
	recv   []float32   // the contributions to this rank's chunk
}

// NewReducer returns a Reducer that moves at most bucket floats per collective (0:
// DefaultBucket; at most 1<<30, as MPI counts are C ints).
func (w *World) NewReducer(bucket int) *Reducer {
	if bucket <= 0 {
		bucket = DefaultBucket
	}
	bucket = min(bucket, 1<<30)
	return &Reducer{w: w, bucket: max(bucket, w.size)}
}

// Sum replaces every element of bufs, on every rank, by its sum over the ranks in rank order.
// All ranks pass buffers of the same lengths in the same order. The buffers are seen as one
// stream cut into buckets; a bucket inside one buffer is reduced in place, one that spans
// buffers is packed first.
func (r *Reducer) Sum(bufs ...[]float32) error {
	if r.w.size == 1 {
		return nil
	}
	pieces, n := r.pieces[:0], 0 // n: floats in pieces
	defer func() { r.pieces = pieces[:0] }()
	flush := func() error {
		if len(pieces) == 0 {
			return nil
		}
		if len(pieces) == 1 {
			err := r.reduce(pieces[0])
			pieces, n = pieces[:0], 0
			return err
		}
		if cap(r.pack) < n {
			r.pack = make([]float32, n, r.bucket)
		}
		x := r.pack[:0]
		for _, p := range pieces {
			x = append(x, p...)
		}
		if err := r.reduce(x); err != nil {
			return err
		}
		for _, p := range pieces {
			x = x[copy(p, x):]
		}
		pieces, n = pieces[:0], 0
		return nil
	}
	for _, b := range bufs {
		for len(b) > 0 {
			k := min(len(b), r.bucket-n)
			pieces = append(pieces, b[:k])
			n += k
			b = b[k:]
			if n == r.bucket {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// reduce sums x over the ranks in place.
func (r *Reducer) reduce(x []float32) error {
	w := r.w
	lo, hi := chunkRange(len(x), w.size, w.rank)
	c := hi - lo
	if cap(r.recv) < w.size*c {
		r.recv = make([]float32, w.size*((r.bucket+w.size-1)/w.size))
	}
	recv := r.recv[:w.size*c]
	if err := w.call(func() error { return w.c.reduceScatter(x, recv) }); err != nil {
		return err
	}
	addInOrder(x[lo:hi], recv)
	return w.call(func() error { return w.c.gatherChunks(x) })
}

// addInOrder sets dst to the sum of the len(parts)/len(dst) contributions in parts (rank 0's
// first), added left to right: ((p0 + p1) + p2) + ..., as the trainer adds its replicas'
// gradients.
func addInOrder(dst, parts []float32) {
	c := len(dst)
	copy(dst, parts[:c])
	for off := c; off < len(parts); off += c {
		for k, v := range parts[off : off+c] {
			dst[k] += v
		}
	}
}

// chunkRange is chunk j's place in a bucket of n floats cut into size chunks: the first
// n%size chunks have one float more than the others.
func chunkRange(n, size, j int) (lo, hi int) {
	base, rem := n/size, n%size
	lo = j*base + min(j, rem)
	hi = lo + base
	if j < rem {
		hi++
	}
	return lo, hi
}
