//go:build cgo

package trainer

import (
	"context"
	"errors"
	"testing"
	"time"
)

// GPU ranks of an MPI world, on the host simulation: processes of train.devices [auto], each
// on the GPU of its local rank, train as one process with a replica on each of those GPUs.

// trainDeviceRanks trains r over size in-process ranks of train.devices devices on tg and
// returns rank 0's losses and result.
func trainDeviceRanks(t *testing.T, tg backendTarget, r deviceRun, size int, devices ...string) (map[int64]float64, *Result) {
	t.Helper()
	w := newMemWorld(size)
	type end struct {
		losses map[int64]float64
		res    *Result
		err    error
	}
	ends := make(chan end, size)
	for rank := range size {
		cfg := r.config(devices...)
		opt := Options{Config: cfg, Ranks: memRank{w, rank}, CheckpointDir: t.TempDir(), build: tg.opts(cfg.Train.Optimizer),
			Source: &rankShare{src: r.source(Position{}), rank: rank, ranks: size}}
		go func() {
			res, losses, err := trainSteps(t, context.Background(), opt)
			if err != nil {
				w.fail(rank, err)
			}
			if rank == 0 {
				ends <- end{losses, res, err}
			} else {
				ends <- end{err: err}
			}
		}()
	}
	var first *end
	for range size {
		select {
		case e := <-ends:
			if e.err != nil {
				t.Fatal(e.err)
			}
			if e.res != nil {
				first = &e
			}
		case <-time.After(5 * time.Minute):
			w.fail(0, errors.New("hung"))
			t.Fatal("the ranks still train after five minutes: a hang")
		}
	}
	return first.losses, first.res
}

// TestCUDARanksOnHost: two ranks of train.devices [auto], each on the simulated GPU of its
// local rank (cuda:0, cuda:1), give the losses and the final checkpoint of one process of
// [cuda:0, cuda:1] bit for bit: the embeddings gathered over the ranks, each rank's gradients
// copied from its GPU, summed over the ranks in rank order and copied back before its update,
// as the one process sums its GPUs' in replica order; with BYOL's and MoCo's target networks,
// each rank's on its GPU, and MoCo's queues too. The same for the CPU, which checks the
// harness: two ranks of [cpu] against [cpu, cpu].
func TestCUDARanksOnHost(t *testing.T) {
	tg := simTarget(t)
	defer func(f func() (int, error)) { gpuCount = f }(gpuCount)
	gpuCount = func() (int, error) { return tg.gpus(), nil } // the driver sees the simulation's GPUs
	for _, c := range []struct {
		name   string
		tg     *backendTarget
		ranks  []string // each rank's train.devices
		one    []string // the one process's
		method string
	}{
		{"GPUs", &tg, []string{AutoDevice}, []string{"cuda:0", "cuda:1"}, ""},
		{"GPUs byol", &tg, []string{AutoDevice}, []string{"cuda:0", "cuda:1"}, "byol"},
		{"GPUs moco", &tg, []string{AutoDevice}, []string{"cuda:0", "cuda:1"}, "moco"},
		{"CPU", nil, []string{"cpu"}, []string{"cpu", "cpu"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := simRun
			r.method = c.method
			want, wres := r.train(t, c.tg, r.config(c.one...), nil)
			rt := backendTarget{name: "cpu"}
			if c.tg != nil {
				rt = *c.tg
			}
			got, gres := trainDeviceRanks(t, rt, r, 2, c.ranks...)
			sameLosses(t, "two ranks against one process", got, want, 1, int64(r.steps), 0)
			sameCheckpoints(t, gres.Checkpoint, wres.Checkpoint)
		})
	}
}
