package loader

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Position is how far a loader has gone in the stream of its world's replicas: Consumed
// slots of global batches of Epoch (batches × the global batch size) are behind it, and each
// replica's stream is Consumed/World samples on, plus the bad samples it passed over
// (Replaced). A loader started at a Position with the same World continues with exactly the
// batches the original would have produced next; one started with another World continues
// the epoch from what the old world had taken from the source (see Options.Start).
//
// The fields after Consumed are empty at the start of an epoch and in positions written
// before the stream was dealt to replicas: World 0 there means 1.
type Position struct {
	Epoch    int   `json:"epoch"`
	Consumed int64 `json:"consumed"`
	// World is the number of replicas the epoch was dealt to.
	World int `json:"world,omitempty"`
	// SkipShards and SkipSamples are what this deal of the epoch left out because an earlier
	// world had taken it (a resume with another world size): source shards as a bitmap
	// (shard streams), or the first SkipSamples samples of the epoch's stream (per-file
	// sources).
	SkipShards  string `json:"skip_shards,omitempty"`
	SkipSamples int64  `json:"skip_samples,omitempty"`
	// TakenShards and TakenSamples are what the world's streams had taken from the source by
	// this position, the skipped part included: the shards opened, or the samples read into
	// the shuffle buffers. A resume with another world size deals the rest.
	TakenShards  string `json:"taken_shards,omitempty"`
	TakenSamples int64  `json:"taken_samples,omitempty"`
	// Replaced is, per replica of the world in order, how far its stream is beyond
	// Consumed/World samples: the bad samples it passed over in this epoch, each replaced by
	// the next good one. Decimal counts joined by commas, trailing zeros left out; "" when
	// none.
	Replaced string `json:"replaced,omitempty"`
}

// Merge returns p with the taken parts of q added: the position of a world whose processes
// are at p and q (the same epoch and batch). A process sees only what its own replicas
// took; the position a checkpoint records is the merge over all processes.
func (p Position) Merge(q Position) Position {
	p.TakenShards = shardSet(p.TakenShards).union(shardSet(q.TakenShards)).String()
	p.TakenSamples = max(p.TakenSamples, q.TakenSamples)
	a, _ := parseReplaced(p.Replaced)
	b, _ := parseReplaced(q.Replaced)
	for len(a) < len(b) {
		a = append(a, 0)
	}
	for g, n := range b {
		a[g] = max(a[g], n)
	}
	p.Replaced = formatReplaced(a)
	return p
}

// replaced returns replica g's entry of p.Replaced (0 when it has none; validate first).
func (p Position) replaced(g int) int64 {
	r, _ := parseReplaced(p.Replaced)
	if g < len(r) {
		return r[g]
	}
	return 0
}

// parseReplaced reads Position.Replaced.
func parseReplaced(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	var out []int64
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("loader: position replaced counts %q: want non-negative integers joined by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// formatReplaced writes Position.Replaced, trailing zeros left out.
func formatReplaced(r []int64) string {
	for len(r) > 0 && r[len(r)-1] == 0 {
		r = r[:len(r)-1]
	}
	parts := make([]string, len(r))
	for i, n := range r {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(parts, ",")
}

// world is p.World, with 1 for positions that do not say.
func (p Position) world() int { return max(p.World, 1) }

// shardSet is a set of source shard indexes as a bitmap in hex, bit i of byte i/8 standing
// for shard i, without trailing zero bytes: short in a checkpoint's JSON, and comparable.
type shardSet string

// newShardSet returns the set of the given indexes.
func newShardSet(idx ...int) shardSet {
	var b []byte
	for _, i := range idx {
		b = setBit(b, i)
	}
	return shardSet(hex.EncodeToString(trimZeros(b)))
}

func setBit(b []byte, i int) []byte {
	for len(b) <= i/8 {
		b = append(b, 0)
	}
	b[i/8] |= 1 << (i % 8)
	return b
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// bytes decodes the set; a malformed one is an error naming it.
func (s shardSet) bytes() ([]byte, error) {
	b, err := hex.DecodeString(string(s))
	if err != nil {
		return nil, fmt.Errorf("loader: position shard set %q: %w", string(s), err)
	}
	return b, nil
}

// has reports whether shard i is in the set (a malformed set holds nothing; validate first).
func (s shardSet) has(i int) bool {
	b, err := s.bytes()
	return err == nil && i/8 < len(b) && b[i/8]&(1<<(i%8)) != 0
}

// len counts the set's members.
func (s shardSet) len() int {
	b, _ := s.bytes()
	n := 0
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return n
}

// union returns the shards in s or t.
func (s shardSet) union(t shardSet) shardSet {
	a, _ := s.bytes()
	b, _ := t.bytes()
	if len(a) < len(b) {
		a, b = b, a
	}
	out := append([]byte(nil), a...)
	for i, x := range b {
		out[i] |= x
	}
	return shardSet(hex.EncodeToString(trimZeros(out)))
}

// with returns s with shard i added.
func (s shardSet) with(i int) shardSet {
	b, _ := s.bytes()
	return shardSet(hex.EncodeToString(trimZeros(setBit(append([]byte(nil), b...), i))))
}

func (s shardSet) String() string { return string(s) }

// validate checks that the set is hex and names no shard at or past n.
func (s shardSet) validate(n int) error {
	b, err := s.bytes()
	if err != nil {
		return err
	}
	for i := n; i < 8*len(b); i++ {
		if b[i/8]&(1<<(i%8)) != 0 {
			return fmt.Errorf("loader: position names shard %d, but the source has %d", i, n)
		}
	}
	return nil
}
