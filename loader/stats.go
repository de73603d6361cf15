package loader

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// MaxSkipExamples is how many skipped samples of each reason Stats names.
const MaxSkipExamples = 3

// Stats describes a loader's work so far.
type Stats struct {
	Images     int64   // samples delivered in batches (each one decode and its views)
	Seconds    float64 // since New
	ImagesPerS float64 // Images / Seconds

	FetchS   float64 // summed over fetchers: reading files, GETs
	AugmentS float64 // summed over workers: decoding and making both views
	WaitS    float64 // the consumer's time inside Next, waiting for batches

	Skipped         map[string]int64 // by reason (the Skip* constants)
	SkippedExamples []string         // "reason: where" for the first MaxSkipExamples of each reason, in order

	// ReadBytes is, per replica of this loader, the bytes read from storage for its stream:
	// shard streams as stored (compressed for .tar.gz), and the files or objects fetched.
	ReadBytes []int64
}

// SkippedTotal sums Skipped.
func (s Stats) SkippedTotal() int64 {
	var n int64
	for _, v := range s.Skipped {
		n += v
	}
	return n
}

type stats struct {
	mu       sync.Mutex
	start    time.Time
	images   int64
	fetch    time.Duration
	augment  time.Duration
	wait     time.Duration
	skipped  map[string]int64
	examples []string
	read     []atomic.Int64 // per replica, added to without the lock
}

func newStats(replicas int) *stats {
	return &stats{start: time.Now(), skipped: map[string]int64{}, read: make([]atomic.Int64, replicas)}
}

func (s *stats) addFetch(d time.Duration)   { s.mu.Lock(); s.fetch += d; s.mu.Unlock() }
func (s *stats) addAugment(d time.Duration) { s.mu.Lock(); s.augment += d; s.mu.Unlock() }
func (s *stats) addWait(d time.Duration)    { s.mu.Lock(); s.wait += d; s.mu.Unlock() }
func (s *stats) delivered(n int)            { s.mu.Lock(); s.images += int64(n); s.mu.Unlock() }

func (s *stats) skip(reason, where string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipped[reason]++
	if s.skipped[reason] <= MaxSkipExamples {
		s.examples = append(s.examples, reason+": "+where)
	}
}

// Stats returns a snapshot of the loader's statistics.
func (l *Loader) Stats() Stats {
	s := l.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	secs := time.Since(s.start).Seconds()
	st := Stats{
		Images:          s.images,
		Seconds:         secs,
		FetchS:          s.fetch.Seconds(),
		AugmentS:        s.augment.Seconds(),
		WaitS:           s.wait.Seconds(),
		Skipped:         maps.Clone(s.skipped),
		SkippedExamples: append([]string(nil), s.examples...),
		ReadBytes:       make([]int64, len(s.read)),
	}
	for i := range s.read {
		st.ReadBytes[i] = s.read[i].Load()
	}
	if secs > 0 {
		st.ImagesPerS = float64(s.images) / secs
	}
	return st
}
