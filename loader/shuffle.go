package loader

import (
	"context"
	"errors"
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

// item is one sample of an epoch's stream: the record, its index in the whole epoch (before
// host sharding; the augmentation seed), and the shard it came from.
type item struct {
	rec   Record
	index int64
	shard string
}

// epochStream yields this host's samples of one epoch in their shuffled order: shards in an
// order drawn from the seed, every Shards-th sample of the stream (from Shard on) kept, then
// mixed through a bounded shuffle buffer. It is deterministic: the same arguments give the
// same sequence whatever happens downstream.
type epochStream struct {
	shards       []Shard
	order        []int
	next         int // into order
	cur          Records
	curName      string
	host, hosts  int64
	index        int64 // of the next record read, over all hosts
	buf          []item
	size         int
	rng          *rand.Rand
	drained      bool
	peeked       *item
	onShardError func(shard string, err error) error // non-nil: the stream stops with it
}

func newEpochStream(shards []Shard, seed int64, epoch, buffer, host, hosts int, onShardError func(string, error) error) *epochStream {
	return &epochStream{
		shards:       shards,
		order:        epochRNG(seed, epoch, purposeShardOrder).Perm(len(shards)),
		host:         int64(host),
		hosts:        int64(hosts),
		size:         max(buffer, 1),
		rng:          epochRNG(seed, epoch, purposeBuffer),
		onShardError: onShardError,
	}
}

// read returns this host's next sample in shard order (before the buffer), or io.EOF.
func (s *epochStream) read(ctx context.Context) (item, error) {
	for {
		if s.cur == nil {
			if s.next >= len(s.order) {
				return item{}, io.EOF
			}
			sh := s.shards[s.order[s.next]]
			s.next++
			r, err := sh.Open(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return item{}, ctx.Err()
				}
				if err := s.onShardError(sh.Name(), err); err != nil {
					return item{}, err
				}
				continue
			}
			s.cur, s.curName = r, sh.Name()
		}
		rec, err := s.cur.Next(ctx)
		if err != nil {
			s.cur.Close()
			s.cur = nil
			if ctx.Err() != nil {
				return item{}, ctx.Err()
			}
			if !errors.Is(err, io.EOF) {
				if err := s.onShardError(s.curName, err); err != nil {
					return item{}, err
				}
			}
			continue
		}
		i := s.index
		s.index++
		if i%s.hosts != s.host {
			continue
		}
		return item{rec: rec, index: i, shard: s.curName}, nil
	}
}

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
	if s.cur != nil {
		s.cur.Close()
		s.cur = nil
	}
	s.buf = nil
}
