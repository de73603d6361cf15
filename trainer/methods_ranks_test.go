package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
)

// rankViews is rank r's part of the views of a global batch of batch images over size ranks:
// its replicas' images, [r·batch/size, (r+1)·batch/size) of every view.
func rankViews(views [][]float32, batch, r, size int) [][]float32 {
	out := make([][]float32, len(views))
	for v, x := range views {
		per := len(x) / batch
		lo, hi := r*batch/size*per, (r+1)*batch/size*per
		out[v] = x[lo:hi]
	}
	return out
}

// stepRanks runs one step of every rank's net at once, each on its part of views, then the
// optimizer and the method's update after it, and returns every rank's loss.
func stepRanks(t *testing.T, w *memWorld, nets []*net, opts []*optimizer, views [][]float32, batch int, k, total int64) []float64 {
	t.Helper()
	losses := make([]float64, len(nets))
	errs := make(chan error, len(nets))
	for r, n := range nets {
		go func() {
			loss, err := n.step(context.Background(), rankViews(views, batch, r, len(nets)))
			if err != nil {
				w.fail(r, err)
				errs <- fmt.Errorf("rank %d: %w", r, err)
				return
			}
			opts[r].step(n.params, n.grads, 0.01)
			n.updated(k, total)
			losses[r] = loss
			errs <- nil
		}()
	}
	for range nets {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			w.fail(0, errors.New("hung"))
			t.Fatal("a rank still stepping after a minute: a hang")
		}
	}
	return losses
}

// sameState compares what a method keeps across steps: the parameters, the target network's
// parameters and MoCo's queues and pointer; within tol (0: bit for bit).
func sameState(t *testing.T, what string, got, want *net, tol float64) {
	t.Helper()
	near := func(name string, a, b []float32) {
		for i := range b {
			if d := math.Abs(float64(a[i] - b[i])); tol == 0 && math.Float32bits(a[i]) != math.Float32bits(b[i]) ||
				d > tol*(1+math.Abs(float64(b[i]))) {
				t.Fatalf("%s: %s[%d] = %v, want %v", what, name, i, a[i], b[i])
			}
		}
	}
	for i, p := range want.params {
		near(p.name, got.params[i].data(), p.data())
	}
	if want.target != nil {
		for i, pr := range want.target.pairs {
			near("target/"+pr[0].name, got.target.pairs[i][0].data(), pr[0].data())
		}
	}
	if q, ok := want.gather.obj.(*mocoLoss); ok {
		g := got.gather.obj.(*mocoLoss)
		if g.ptr != q.ptr {
			t.Fatalf("%s: queue pointer %d, want %d", what, g.ptr, q.ptr)
		}
		for v := range q.queue {
			near(fmt.Sprintf("moco/queue/%d", v), g.queue[v], q.queue[v])
		}
	}
}

// TestMethodsOverRanks: for every method and multi-crop, a world of ranks (in one process,
// memWorld) takes the steps of one process with the world's replicas: every loss spans every
// rank (SimCLR's negatives, BYOL's and MoCo's pairs, MoCo's keys enqueued, VICReg's variance
// and covariance, Barlow Twins' cross-correlation), and every rank keeps the same parameters,
// target network and MoCo queue. Two ranks of one replica reproduce one process of two bit for
// bit (the gradients and batch-norm statistics summed in the same order); two ranks of two
// equal one process of four to float32 rounding (the sums are grouped otherwise).
func TestMethodsOverRanks(t *testing.T) {
	const batch, steps = 8, 4
	for _, tc := range methodCases {
		for _, split := range []struct{ ranks, devices int }{{2, 1}, {2, 2}} {
			t.Run(fmt.Sprintf("%s/%d ranks × %d", tc.name, split.ranks, split.devices), func(t *testing.T) {
				world := split.ranks * split.devices
				one, err := newSpecNet(testSpec(tc.method, tc.groups, batch, cpus(world)), buildOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer one.close()
				oneOpt, err := newOptimizer("sgd", 0.9, 1e-6, one.params)
				if err != nil {
					t.Fatal(err)
				}
				w := newMemWorld(split.ranks)
				nets := make([]*net, split.ranks)
				opts := make([]*optimizer, split.ranks)
				for r := range nets {
					n, err := newSpecNet(testSpec(tc.method, tc.groups, batch, cpus(split.devices)), buildOptions{ranks: memRank{w, r}})
					if err != nil {
						t.Fatal(err)
					}
					defer n.close()
					nets[r] = n
					if opts[r], err = newOptimizer("sgd", 0.9, 1e-6, n.params); err != nil {
						t.Fatal(err)
					}
				}
				tol := 0.0
				if split.devices > 1 {
					tol = 1e-4
				}
				for s := range int64(steps) {
					views := groupViews(uint64(21+s), batch, tc.groups)
					want, err := one.step(context.Background(), views)
					if err != nil {
						t.Fatal(err)
					}
					oneOpt.step(one.params, one.grads, 0.01)
					one.updated(s, steps)
					for r, loss := range stepRanks(t, w, nets, opts, views, batch, s, steps) {
						if tol == 0 && loss != want || math.Abs(loss-want) > tol*(1+math.Abs(want)) {
							t.Fatalf("step %d: rank %d's loss %v, one process's %v", s+1, r, loss, want)
						}
						sameState(t, fmt.Sprintf("step %d, rank %d", s+1, r), nets[r], one, tol)
					}
					for r := range nets[1:] {
						sameState(t, fmt.Sprintf("step %d, rank %d against rank 0", s+1, r+1), nets[r+1], nets[0], 0)
					}
				}
				if q, ok := one.gather.obj.(*mocoLoss); ok && q.ptr != (steps*batch)%q.size {
					t.Errorf("queue pointer %d after %d steps of %d into %d", q.ptr, steps, batch, q.size)
				}
			})
		}
	}
}

// rankShare is rank r's part of a synthetic source of global batches: each rank draws the
// world's batch and keeps its replicas' images; positions are the world's.
type rankShare struct {
	src         *synthSource
	rank, ranks int
}

func (s *rankShare) Next(ctx context.Context) (*Batch, error) {
	b, err := s.src.Next(ctx)
	if err != nil {
		return nil, err
	}
	b.Views = rankViews(b.Views, b.N, s.rank, s.ranks)
	b.N /= s.ranks
	return b, nil
}

func (s *rankShare) Position() Position                   { return s.src.Position() }
func (s *rankShare) MergePosition(p, _ Position) Position { return p }

// trainRanks trains cfg over two ranks (memWorld), each with one replica, from resume when it
// is set, and returns each rank's losses by step and its checkpoint folder.
func trainRanks(t *testing.T, cfg *configs.Config, resume *Checkpoint) ([2]map[int64]float64, [2]string) {
	t.Helper()
	perRank := cfg.Clone()
	perRank.Train.Devices = []string{"cpu"}
	var start Position
	if resume != nil {
		start = resume.Header.Position
	}
	w := newMemWorld(2)
	dirs := [2]string{t.TempDir(), t.TempDir()}
	type end struct {
		r      int
		losses map[int64]float64
		err    error
	}
	ends := make(chan end, 2)
	for r := range 2 {
		go func() {
			_, losses, err := trainSteps(t, context.Background(), Options{Config: perRank, Ranks: memRank{w, r}, Resume: resume,
				Source: &rankShare{src: sourceFor(perRank, start), rank: r, ranks: 2}, CheckpointDir: dirs[r]})
			if err != nil {
				w.fail(r, err)
			}
			ends <- end{r, losses, err}
		}()
	}
	var losses [2]map[int64]float64
	for range 2 {
		select {
		case e := <-ends:
			if e.err != nil {
				t.Fatalf("rank %d: %v", e.r, e.err)
			}
			losses[e.r] = e.losses
		case <-time.After(time.Minute):
			w.fail(0, errors.New("hung"))
			t.Fatal("a rank still training after a minute: a hang")
		}
	}
	if entries, _ := os.ReadDir(dirs[1]); len(entries) != 0 {
		t.Errorf("rank 1 wrote %d files: rank 0 alone writes checkpoints", len(entries))
	}
	return losses, dirs
}

// sameCheckpoints fails t unless the checkpoints hold the same tensors, bit for bit, and the
// same method state.
func sameCheckpoints(t *testing.T, got, want string) {
	t.Helper()
	a, err := ReadCheckpoint(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadCheckpoint(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Header.Tensors) != len(b.Header.Tensors) {
		t.Fatalf("%d tensors, want %d", len(a.Header.Tensors), len(b.Header.Tensors))
	}
	for _, ti := range b.Header.Tensors {
		if !slices.Equal(a.Tensors[ti.Name], b.Tensors[ti.Name]) {
			t.Errorf("tensor %s differs", ti.Name)
		}
	}
	if (a.Header.Method == nil) != (b.Header.Method == nil) || a.Header.Method != nil && *a.Header.Method != *b.Header.Method {
		t.Errorf("method state %+v, want %+v", a.Header.Method, b.Header.Method)
	}
}

// TestMethodsTrainOverRanks: natssl's training loop over two ranks (memWorld) trains every
// method, multi-crop too, as one process with both replicas: the same loss at every step on
// both ranks, bit for bit, and rank 0's last checkpoint holds the one process's tensors (the
// target network and MoCo's queues included) and method state. Resumed over the two ranks from
// the one process's checkpoint, every rank takes up the target network and the queues, and the
// run ends as the uninterrupted one.
func TestMethodsTrainOverRanks(t *testing.T) {
	cfgs := methodConfigs()
	names := make([]string, 0, len(cfgs))
	for name := range cfgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			const steps = 6
			cfg := cfgs[name].Clone()
			cfg.Train.Steps, cfg.Train.CheckpointEvery = steps, 3
			one := cfg.Clone()
			one.Train.Devices = []string{"cpu", "cpu"}
			dirOne := t.TempDir()
			_, want, err := trainSteps(t, context.Background(), Options{Config: one, Source: sourceFor(one, Position{}), CheckpointDir: dirOne})
			if err != nil {
				t.Fatal(err)
			}
			ck, err := ReadCheckpoint(filepath.Join(dirOne, checkpointName(3)))
			if err != nil {
				t.Fatal(err)
			}
			for _, run := range []struct {
				name   string
				resume *Checkpoint
			}{{"from the start", nil}, {"resumed at step 3", ck}} {
				losses, dirs := trainRanks(t, cfg, run.resume)
				from := int64(1)
				if run.resume != nil {
					from = 4
				}
				for r := range 2 {
					for s := from; s <= steps; s++ {
						if math.Float64bits(losses[r][s]) != math.Float64bits(want[s]) {
							t.Errorf("%s: step %d: rank %d's loss %v, one process's %v", run.name, s, r, losses[r][s], want[s])
						}
					}
				}
				sameCheckpoints(t, filepath.Join(dirs[0], checkpointName(steps)), filepath.Join(dirOne, checkpointName(steps)))
			}
		})
	}
}
