package loader

import (
	"context"
	"io"
	"math/rand/v2"
)

// epochRNG returns the random stream for one purpose of one epoch (shard order, shuffle
// buffer), a function of the seed alone.
func epochRNG(seed int64, epoch int, purpose uint64) *rand.Rand {
	a := mix(uint64(seed) ^ mix(uint64(int64(epoch))^purpose))
	return rand.New(rand.NewPCG(a, mix(a^purpose)))
}

// mix is splitmix64's finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

const (
	purposeShardOrder uint64 = 0x5ad0_0001
	purposeBuffer     uint64 = 0x5ad0_0002
)

// item is one sample of an epoch's stream: the record, its index (unique in the epoch's
// deal; the augmentation seed), and the shard it came from.
type item struct {
	rec   Record
	index int64
	shard string
}

// epochStream yields one replica's samples of one epoch in their shuffled order: the
// replica's share of the deal, mixed through a bounded shuffle buffer. It is deterministic:
// the same deal gives the same sequence whatever happens downstream.
type epochStream struct {
	r       *replicaReader
	buf     []item
	size    int
	rng     *rand.Rand
	drained bool
	peeked  *item
}

// newEpochStream mixes reader r's samples through a buffer of buffer samples. The buffer's
// random stream is the epoch's, and replica g's own for g > 0.
func newEpochStream(r *replicaReader, seed int64, epoch, buffer int) *epochStream {
	purpose := purposeBuffer
	if r.g > 0 {
		purpose ^= uint64(r.g) << 32
	}
	return &epochStream{r: r, size: max(buffer, 1), rng: epochRNG(seed, epoch, purpose)}
}

// read returns the replica's next sample before the buffer, or io.EOF.
func (s *epochStream) read(ctx context.Context) (item, error) { return s.r.read(ctx) }

// Next returns the next sample out of the shuffle buffer, or io.EOF after the last.
func (s *epochStream) Next(ctx context.Context) (item, error) {
	if s.peeked != nil {
		it := *s.peeked
		s.peeked = nil
		return it, nil
	}
	for !s.drained && len(s.buf) < s.size {
		it, err := s.read(ctx)
		if err == io.EOF {
			s.drained = true
			break
		}
		if err != nil {
			return item{}, err
		}
		s.buf = append(s.buf, it)
	}
	if len(s.buf) == 0 {
		return item{}, io.EOF
	}
	j := s.rng.IntN(len(s.buf))
	last := len(s.buf) - 1
	it := s.buf[j]
	s.buf[j] = s.buf[last]
	s.buf[last] = item{}
	s.buf = s.buf[:last]
	return it, nil
}

// More reports whether Next has another sample, reading ahead by one.
func (s *epochStream) More(ctx context.Context) (bool, error) {
	if s.peeked != nil {
		return true, nil
	}
	it, err := s.Next(ctx)
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.peeked = &it
	return true, nil
}

// Close closes the shard being read.
func (s *epochStream) Close() {
	s.r.closeShard()
	s.buf = nil
}
