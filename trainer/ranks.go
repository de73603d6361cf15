package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Ranks is the group of processes one run spans, one rank per process (package mpi's World,
// adapted by internal/pipeline); nil in Options is this process alone. Every rank builds the
// same model and trains on its part of every global batch: rank r's replicas are the world's
// replicas r·R ... r·R+R−1 (R = len(train.devices)), in the loader's order.
//
// Every rank makes the same calls in the same order: once per step the batch agreement
// (AllgatherInt64), the embeddings' Allgather inside the loss (the online and the target
// network's, for every method), the gradients' and the batch norm statistics' Sum; at log steps the counters, at checkpoints the loader positions
// (AllgatherBytes).
type Ranks interface {
	Rank() int
	Size() int
	LocalRank() int // among the ranks on this machine: the device "auto" follows it
	LocalSize() int // ranks on this machine: they share its cores
	// Allgather puts every rank's send into recv, rank after rank.
	Allgather(send, recv []float32) error
	// AllgatherInt64 returns every rank's send, rank after rank.
	AllgatherInt64(send []int64) ([]int64, error)
	// AllgatherBytes returns every rank's b, in rank order; lengths may differ.
	AllgatherBytes(b []byte) ([][]byte, error)
	// Sum replaces every element of bufs by its sum over the ranks added in rank order,
	// r0 + r1 + ..., the same bits on every rank.
	Sum(bufs ...[]float32) error
}

// PositionMerger is implemented by a Source whose Position describes only this process's
// share of the world's streams (the loader): MergePosition returns the position of the
// world whose processes are at p and q, which is what a checkpoint records.
type PositionMerger interface {
	MergePosition(p, q Position) Position
}

// stepAgreement is what every rank says before a step: whether it wants to stop (a signal;
// rank 0 also the time limit), whether its data ended, and the batch it holds.
type stepAgreement struct {
	stop   bool // a signal
	timeUp bool // train.time_limit, by rank 0's clock (the one that leaves the hooks out)
	eof    bool
	n      int // images of this rank's batch
	epoch  int
}

const agreementLen = 5

func (a stepAgreement) encode() []int64 {
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	return []int64{b(a.stop), b(a.timeUp), b(a.eof), int64(a.n), int64(a.epoch)}
}

// stepVerdict is what the ranks decided together, the same on every rank.
type stepVerdict struct {
	reason   StopReason // "" when the step goes on
	short    bool       // some rank's batch is short: every rank leaves its batch out
	maxEpoch int
}

// agree joins this rank's view of the coming step to every other rank's. A rank that wants to
// stop stops them all (a signal reaches the ranks at slightly different moments); they leave
// out a batch that is short on any of them, so that all take the same steps. per is the
// images a full batch holds on each rank.
func agree(ranks Ranks, mine stepAgreement, per int) (stepVerdict, error) {
	all, err := ranks.AllgatherInt64(mine.encode())
	if err != nil {
		return stepVerdict{}, fmt.Errorf("trainer: agree on the step: %w", err)
	}
	var v stepVerdict
	stop, timeUp, ended := false, false, 0
	for r := 0; r < ranks.Size(); r++ {
		a := all[r*agreementLen : (r+1)*agreementLen]
		stop = stop || a[0] != 0
		timeUp = timeUp || a[1] != 0 && r == 0
		if a[2] != 0 {
			ended++
			continue
		}
		v.short = v.short || int(a[3]) != per
		v.maxEpoch = max(v.maxEpoch, int(a[4]))
	}
	switch {
	case stop:
		v.reason = StopCanceled
	case timeUp:
		v.reason = StopTimeLimit
	case ended == ranks.Size():
		v.reason = StopData
	case ended > 0:
		return v, fmt.Errorf("trainer: the data ended on %d of %d ranks but not on the others: their loaders disagree", ended, ranks.Size())
	}
	return v, nil
}

// gatherPosition is the world's position on rank 0 (the merge of every rank's), and this
// rank's own elsewhere.
func (t *training) gatherPosition() (Position, error) {
	if t.ranks == nil {
		return t.pos, nil
	}
	mine, err := json.Marshal(t.pos)
	if err != nil {
		return Position{}, fmt.Errorf("trainer: position: %w", err)
	}
	all, err := t.ranks.AllgatherBytes(mine)
	if err != nil {
		return Position{}, fmt.Errorf("trainer: gather the ranks' loader positions: %w", err)
	}
	m, ok := t.opt.Source.(PositionMerger)
	if !ok {
		return Position{}, errors.New("trainer: a run over several ranks needs a Source that merges positions")
	}
	pos := t.pos
	for r, b := range all {
		if r == t.ranks.Rank() {
			continue
		}
		var p Position
		if err := json.Unmarshal(b, &p); err != nil {
			return Position{}, fmt.Errorf("trainer: rank %d's position: %w", r, err)
		}
		pos = m.MergePosition(pos, p)
	}
	return pos, nil
}

// rankCounters are what each rank tells rank 0 at a log step: its share of the window's
// time waiting for data, and its source's counters.
type rankCounters struct {
	DataWait float64            `json:"data_wait"`
	Source   map[string]float64 `json:"source,omitempty"`
}

// worldCounters returns the data wait and the source counters of the world: the slowest
// rank's wait (every step waits for it) and the counters summed over the ranks (images
// skipped, the loaders' images/s). Without ranks, this process's.
func (t *training) worldCounters(wait float64) (float64, map[string]float64, error) {
	var src map[string]float64
	if ms, ok := t.opt.Source.(MetricsSource); ok {
		src = ms.Metrics()
	}
	if t.ranks == nil {
		return wait, src, nil
	}
	mine, err := json.Marshal(rankCounters{DataWait: wait, Source: src})
	if err != nil {
		return 0, nil, fmt.Errorf("trainer: counters: %w", err)
	}
	all, err := t.ranks.AllgatherBytes(mine)
	if err != nil {
		return 0, nil, fmt.Errorf("trainer: gather the ranks' counters: %w", err)
	}
	wait, src = 0, nil
	for r, b := range all {
		var c rankCounters
		if err := json.Unmarshal(b, &c); err != nil {
			return 0, nil, fmt.Errorf("trainer: rank %d's counters: %w", r, err)
		}
		wait = max(wait, c.DataWait)
		for k, v := range c.Source {
			if src == nil {
				src = map[string]float64{}
			}
			src[k] += v
		}
	}
	return wait, src, nil
}

// timedRanks measures the time spent in the collectives of a step (comm_s of bench train):
// waiting for the slowest rank included.
type timedRanks struct {
	Ranks
	spent time.Duration
}

func (r *timedRanks) Allgather(send, recv []float32) error {
	defer r.clock(time.Now())
	return r.Ranks.Allgather(send, recv)
}

func (r *timedRanks) Sum(bufs ...[]float32) error {
	defer r.clock(time.Now())
	return r.Ranks.Sum(bufs...)
}

func (r *timedRanks) clock(start time.Time) { r.spent += time.Since(start) }
