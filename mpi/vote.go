package mpi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Vote is a question that all ranks answer together, again and again: does any rank say yes?
// Its votes go over a communicator of their own, so that they keep an order of their own: a
// goroutine (the loader's, asking whether the epoch has another batch) can vote while another
// is in the World's collectives (a training step), and the two never wait for each other.
//
// Unlike the World's collectives, a vote can be abandoned: Any returns when its context ends,
// leaving the vote pending. Finalize then completes what was left: every rank's pending vote,
// and on each rank as many extra votes (no) as it is behind the rank that voted most, so that
// nobody is left waiting and MPI ends with nothing in flight.
type Vote struct {
	w        *World
	mu       sync.Mutex
	v        voter
	canceled error // the cause of an abandoned vote: every later Any returns it
	drained  bool
}

// NewVote returns a new Vote. Every rank calls it, in the same order among the World's
// collectives.
func (w *World) NewVote() (*Vote, error) {
	var vt *Vote
	err := w.call(func() error {
		v, err := w.c.newVote()
		if err == nil {
			vt = &Vote{w: w, v: v}
			w.votes = append(w.votes, vt)
		}
		return err
	})
	return vt, err
}

// Any votes yes and returns whether any rank did, or returns ctx's cause when ctx ends before
// every rank has voted. After that, and after Finalize, it returns an error at once.
func (v *Vote) Any(ctx context.Context, yes bool) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.drained:
		return false, ErrFinalized
	case v.canceled != nil:
		return false, fmt.Errorf("mpi: vote abandoned earlier: %w", v.canceled)
	}
	any, err := v.v.vote(ctx, yes)
	if err != nil && ctx.Err() != nil && !isMPI(err) {
		v.canceled = err
	}
	return any, err
}

// isMPI reports whether err came from the library or a failed rank rather than a context.
func isMPI(err error) bool {
	var e *Error
	var re *RankError
	return errors.As(err, &e) || errors.As(err, &re)
}

// drainVotes completes every Vote (World.Finalize, with w's lock held): the ranks tell each
// other how many votes they started, and each takes part in those it has not.
func (w *World) drainVotes() error {
	for _, v := range w.votes {
		v.mu.Lock()
		n := v.v.started()
		all := make([]int64, w.size)
		err := w.c.allgatherInt64([]int64{n}, all)
		if err == nil {
			err = v.v.drain(slices.Max(all) - n)
		}
		v.drained = true
		v.mu.Unlock()
		if err != nil {
			return err
		}
	}
	w.votes = nil
	return nil
}
