package trainer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natssl/natssl/experiments/metric"
)

// memWorld is ranks in one process, a goroutine each: every collective is a meeting of all
// the ranks, each making its calls in its own order, as over MPI. A rank's failure (fail, what
// package mpi's Fail does) makes the others' current and next collectives return it. Ranks that
// meet in different collectives end the world with a mismatch (over MPI: a hang, or garbage).
type memWorld struct {
	mu      sync.Mutex
	cond    *sync.Cond
	size    int
	gen     int // meetings completed
	arrived int
	kinds   []string
	sends   []any
	results []any // of the last meeting
	failed  error
}

func newMemWorld(size int) *memWorld {
	w := &memWorld{size: size, kinds: make([]string, size), sends: make([]any, size)}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// meet gives send to the meeting of kind and returns every rank's, in rank order.
func (w *memWorld) meet(rank int, kind string, send any) ([]any, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return nil, w.failed
	}
	gen := w.gen
	w.kinds[rank], w.sends[rank] = kind, send
	if w.arrived++; w.arrived == w.size {
		for _, k := range w.kinds {
			if k != kind {
				w.failed = fmt.Errorf("collective mismatch at meeting %d: %v", gen, w.kinds)
				w.cond.Broadcast()
				return nil, w.failed
			}
		}
		w.results, w.sends, w.arrived = w.sends, make([]any, w.size), 0
		w.gen++
		w.cond.Broadcast()
	}
	for w.gen == gen && w.failed == nil {
		w.cond.Wait()
	}
	if w.gen == gen {
		return nil, w.failed // a meeting the failed rank never joined
	}
	return w.results, nil
}

func (w *memWorld) fail(rank int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil {
		w.failed = fmt.Errorf("rank %d failed: %w", rank, err)
	}
	w.cond.Broadcast()
}

// memRank is one rank of a memWorld.
type memRank struct {
	w    *memWorld
	rank int
}

var _ Ranks = memRank{}

func (r memRank) Rank() int      { return r.rank }
func (r memRank) Size() int      { return r.w.size }
func (r memRank) LocalRank() int { return r.rank }
func (r memRank) LocalSize() int { return r.w.size }

func (r memRank) Allgather(send, recv []float32) error {
	all, err := r.w.meet(r.rank, "allgather", append([]float32(nil), send...))
	for i, a := range all {
		copy(recv[i*len(send):], a.([]float32))
	}
	return err
}

func (r memRank) AllgatherInt64(send []int64) ([]int64, error) {
	all, err := r.w.meet(r.rank, "allgather int64", append([]int64(nil), send...))
	var out []int64
	for _, a := range all {
		out = append(out, a.([]int64)...)
	}
	return out, err
}

func (r memRank) AllgatherBytes(b []byte) ([][]byte, error) {
	all, err := r.w.meet(r.rank, "allgather bytes", append([]byte(nil), b...))
	out := make([][]byte, len(all))
	for i, a := range all {
		out[i] = a.([]byte)
	}
	return out, err
}

func (r memRank) Sum(bufs ...[]float32) error {
	mine := make([][]float32, len(bufs))
	for i, b := range bufs {
		mine[i] = append([]float32(nil), b...)
	}
	all, err := r.w.meet(r.rank, "sum", mine)
	if err != nil {
		return err
	}
	for i, b := range bufs {
		copy(b, all[0].([][]float32)[i])
		for _, a := range all[1:] {
			for j, v := range a.([][]float32)[i] {
				b[j] += v // in rank order: (r0 + r1) + ...
			}
		}
	}
	return nil
}

// rankSource is one rank's share of a synthSource, failing at its failAt-th batch when set.
type rankSource struct {
	synthSource
	failAt, calls int64
}

func (s *rankSource) Next(ctx context.Context) (*Batch, error) {
	if s.calls++; s.calls == s.failAt {
		return nil, errors.New("the rank's data went away")
	}
	return s.synthSource.Next(ctx)
}

func (s *rankSource) MergePosition(p, _ Position) Position { return p }

// TestRanksLogTheLastWindow: over two ranks, whatever ends the run — its last step, rank 0's
// time limit, a signal to rank 1 alone, the end of the data, a failure of rank 1 alone — the
// tracker's last row is the last step trained, with that step's loss, and the ranks make the
// same collectives in the same order (a mismatch or a hang fails the test). The row of an
// end the ranks agreed on has the world's counters (data_wait); the row at a failure, which
// may be one rank's alone, is logged without any collective and so without them.
func TestRanksLogTheLastWindow(t *testing.T) {
	tests := []struct {
		name     string
		steps    int
		limit    bool  // train.time_limit reached after the first step
		cancelAt int64 // rank 1 alone gets a signal after this step
		epochs   int   // the data ends after this many epochs of 5 batches
		failAt   int64 // rank 1's batch number failAt fails
		want     int64 // the last step trained and logged
		reason   StopReason
	}{
		{name: "last step", steps: 7, want: 7, reason: StopSteps},
		{name: "time limit", steps: 1000, limit: true, want: 1, reason: StopTimeLimit},
		{name: "signal to rank 1", steps: 1000, cancelAt: 4, want: 4, reason: StopCanceled},
		{name: "end of data", steps: 1000, epochs: 1, want: 5, reason: StopData},
		{name: "rank 1 fails", steps: 1000, failAt: 4, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Train.Steps, cfg.Train.LogEvery, cfg.Train.CheckpointEvery = tt.steps, 10, 0
			if tt.limit {
				cfg.Train.TimeLimit = 1
			}
			w := newMemWorld(2)
			tr := &rowTracker{}
			type end struct {
				res *Result
				err error
			}
			ends := make([]chan end, 2)
			for r := range 2 {
				ends[r] = make(chan end, 1)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				opt := Options{Config: cfg, Ranks: memRank{w, r}, CheckpointDir: t.TempDir(),
					Source: &rankSource{synthSource: synthSource{batch: 4, size: 8, seed: int64(1 + r), perEpoch: 20, epochs: tt.epochs}}}
				if r == 0 {
					opt.Tracker = tr
				} else {
					opt.Source.(*rankSource).failAt = tt.failAt
					opt.OnStep = func(s StepInfo) {
						if s.Step == tt.cancelAt {
							cancel()
						}
					}
				}
				go func() {
					res, err := Train(ctx, opt)
					if err != nil && !errors.Is(err, ErrStopped) {
						w.fail(r, err) // as the command line's leaveJob does
					}
					ends[r] <- end{res, err}
				}()
			}
			var got [2]end
			for r := range 2 {
				select {
				case got[r] = <-ends[r]:
				case <-time.After(time.Minute):
					w.fail(r, errors.New("hung"))
					t.Fatalf("rank %d still training after a minute: a hang", r)
				}
			}
			for r, e := range got {
				if e.err != nil && strings.Contains(e.err.Error(), "mismatch") {
					t.Fatalf("rank %d: %v", r, e.err)
				}
			}
			if tt.failAt > 0 {
				if got[0].err == nil || !strings.Contains(got[0].err.Error(), "rank 1 failed: trainer: step 4: next batch: the rank's data went away") {
					t.Fatalf("rank 0: %v; want rank 1's failure", got[0].err)
				}
			} else {
				for r, e := range got {
					if e.res == nil || e.res.Step != tt.want || e.res.Reason != tt.reason {
						t.Fatalf("rank %d: result %+v, %v; want step %d, %s", r, e.res, e.err, tt.want, tt.reason)
					}
				}
			}
			if len(tr.rows) == 0 {
				t.Fatal("no metrics logged")
			}
			last := tr.rows[len(tr.rows)-1]
			if last.step != tt.want {
				t.Fatalf("last row at step %d, want %d", last.step, tt.want)
			}
			if _, ok := last.values[metric.LossLast]; !ok {
				t.Errorf("last row %v: no %s", last.values, metric.LossLast)
			}
			if _, ok := last.values[metric.DataWait]; ok == (tt.failAt > 0) {
				t.Errorf("last row %v: %s logged %v, want %v", last.values, metric.DataWait, ok, tt.failAt == 0)
			}
		})
	}
}
