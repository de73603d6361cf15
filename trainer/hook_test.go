package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
)

// metricsTracker keeps the metrics logged at each step.
type metricsTracker struct {
	mu      sync.Mutex
	metrics map[int64]map[string]float64
}

func (m *metricsTracker) LogMetrics(_ context.Context, step int64, values map[string]float64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.metrics == nil {
		m.metrics = map[int64]map[string]float64{}
	}
	if m.metrics[step] == nil {
		m.metrics[step] = map[string]float64{}
	}
	for k, v := range values {
		m.metrics[step][k] = v
	}
	return nil
}

func (m *metricsTracker) RecordCheckpoint(context.Context, int64, string, string, int64) error {
	return nil
}

func (m *metricsTracker) ForgetCheckpoint(context.Context, string) error { return nil }

// steps returns the steps at which key was logged, in order.
func (m *metricsTracker) steps(key string) []int64 {
	var out []int64
	for s, v := range m.metrics {
		if _, ok := v[key]; ok {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// scribblingHook extracts features from a snapshot, as a monitor does, then overwrites every
// parameter and statistic of the snapshot: none of it may reach training.
func scribblingHook(every int64) Hook {
	return Hook{Every: every, Run: func(ctx context.Context, at *HookPoint) (map[string]float64, error) {
		enc := at.Encoder()
		x := make([]float32, 3*3*8*8)
		rng := rand.New(rand.NewPCG(1, uint64(at.Step)))
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		f, err := enc.Features(ctx, x, 3)
		if err != nil {
			return nil, err
		}
		for _, p := range enc.store.params {
			clear(p.data())
		}
		for _, b := range enc.store.bns {
			clear(b.mean)
			clear(b.vr)
		}
		if _, err := enc.Features(ctx, x, 3); err != nil {
			return nil, err
		}
		return map[string]float64{"probe/feature0": float64(f[0]), "probe/step": float64(at.Step)}, nil
	}}
}

// TestHooksDoNotChangeTraining: a run whose hooks take snapshots, extract features in
// evaluation mode and scribble over the snapshots takes bit for bit the steps of the same run
// without hooks, and ends with the same checkpoint tensors; the hooks' metrics reach the
// tracker and OnStep at step 0, every second step and the last, and only there.
func TestHooksDoNotChangeTraining(t *testing.T) {
	for _, devices := range [][]string{{"cpu"}, {"cpu", "cpu"}} {
		t.Run(fmt.Sprintf("%d replicas", len(devices)), func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Train.Devices = devices
			cfg.Train.Steps = 7
			train := func(hooks []Hook) (map[int64]StepInfo, *metricsTracker, *Checkpoint) {
				t.Helper()
				dir := t.TempDir()
				steps := map[int64]StepInfo{}
				tr := &metricsTracker{}
				_, err := Train(context.Background(), Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 5, perEpoch: 20},
					CheckpointDir: dir, Tracker: tr, Hooks: hooks, OnStep: func(s StepInfo) { steps[s.Step] = s }})
				if err != nil {
					t.Fatal(err)
				}
				c, err := LatestCheckpoint(dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				return steps, tr, c
			}
			plain, _, plainCk := train(nil)
			hooked, tr, hookedCk := train([]Hook{scribblingHook(2)})
			for s := int64(1); s <= 7; s++ {
				if a, b := plain[s].Loss, hooked[s].Loss; math.Float64bits(a) != math.Float64bits(b) {
					t.Errorf("step %d: loss %v with hooks, %v without", s, b, a)
				}
			}
			if !reflect.DeepEqual(plainCk.Tensors, hookedCk.Tensors) {
				t.Error("the final checkpoints' tensors differ")
			}
			var seen []int64
			for s, info := range hooked {
				if info.Metrics != nil {
					seen = append(seen, s)
					if info.Metrics["probe/step"] != float64(s) {
						t.Errorf("step %d: metrics %v", s, info.Metrics)
					}
				}
			}
			slices.Sort(seen)
			if want := []int64{0, 2, 4, 6, 7}; !slices.Equal(seen, want) || !slices.Equal(tr.steps("probe/step"), want) {
				t.Errorf("hook metrics at steps %v in OnStep and %v in the tracker, want %v", seen, tr.steps("probe/step"), want)
			}
			if hooked[0].Loss != 0 || hooked[0].Total != 7 {
				t.Errorf("step 0: %+v", hooked[0])
			}
			if plain[0].Metrics != nil || len(plain) != 7 {
				t.Errorf("without hooks: %d steps shown, step 0 %+v", len(plain), plain[0])
			}
		})
	}
}

// TestHookEncoderIsTheCheckpoints: the snapshot a hook gets after step 3 computes bit for bit
// the features of the encoder read back from the step-3 checkpoint, batch-norm statistics
// included, and not those of the initial model; for every method, the online encoder (never
// BYOL's or MoCo's target network, which the EMA keeps apart from it).
func TestHookEncoderIsTheCheckpoints(t *testing.T) {
	cases := methodConfigs()
	cases["simclr"].Train.Devices = []string{"cpu", "cpu"}
	for _, name := range []string{"simclr", "byol", "moco multi-crop"} {
		t.Run(name, func(t *testing.T) {
			cfg := cases[name]
			x := make([]float32, 5*3*8*8)
			for i := range x {
				x[i] = float32(math.Sin(float64(i)))
			}
			feats := map[int64][]float32{}
			dir := t.TempDir()
			hook := Hook{Every: 3, Run: func(ctx context.Context, at *HookPoint) (map[string]float64, error) {
				f, err := at.Encoder().Features(ctx, x, 5)
				feats[at.Step] = f
				return nil, err
			}}
			src := sourceFor(cfg, Position{})
			src.seed, src.perEpoch = 2, 64
			if _, err := Train(context.Background(), Options{Config: cfg, Source: src, CheckpointDir: dir, Hooks: []Hook{hook}}); err != nil {
				t.Fatal(err)
			}
			c, err := ReadCheckpoint(filepath.Join(dir, checkpointName(3)))
			if err != nil {
				t.Fatal(err)
			}
			enc, _, err := c.Encoder()
			if err != nil {
				t.Fatal(err)
			}
			want, err := enc.Features(context.Background(), x, 5)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(feats[3], want) {
				t.Errorf("step 3: the snapshot's features differ from the checkpoint's encoder's")
			}
			if slices.Equal(feats[0], want) {
				t.Errorf("the features at step 0 are those of step 3")
			}
			if cfg.Method.UsesTarget() && slices.Equal(c.Tensors["target/param/enc.conv1.w"], c.Tensors["param/enc.conv1.w"]) {
				t.Errorf("the target network is the online one after 3 steps")
			}
		})
	}
}

// TestHookSteps: hooks run at step 0, every Every steps, and after the last step, whether
// train.steps or train.time_limit ends the run, once per step.
func TestHookSteps(t *testing.T) {
	tests := []struct {
		name         string
		steps, every int64
		limit        time.Duration
		want         []int64
	}{
		{"every 2 of 5", 5, 2, 0, []int64{0, 2, 4, 5}},
		{"every 3 of 6", 6, 3, 0, []int64{0, 3, 6}},
		{"the time limit", 1000, 100, time.Nanosecond, []int64{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Train.Steps = int(tt.steps)
			cfg.Train.TimeLimit = configs.Duration(tt.limit)
			var at []int64
			hook := Hook{Every: tt.every, Run: func(_ context.Context, p *HookPoint) (map[string]float64, error) {
				at = append(at, p.Step)
				return nil, nil
			}}
			if _, err := Train(context.Background(), Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 5, perEpoch: 64},
				CheckpointDir: t.TempDir(), Hooks: []Hook{hook}}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(at, tt.want) {
				t.Errorf("hooks ran at steps %v, want %v", at, tt.want)
			}
		})
	}
}

// TestHookResumed: a resumed run's hooks go on at the next multiple of Every, without a
// step 0.
func TestHookResumed(t *testing.T) {
	cfg := tinyConfig()
	dir := t.TempDir()
	src := func(p Position) *synthSource { return &synthSource{batch: 8, size: 8, seed: 5, perEpoch: 64, pos: p} }
	if _, err := Train(context.Background(), Options{Config: cfg, Source: src(Position{}), CheckpointDir: dir}); err != nil {
		t.Fatal(err)
	}
	c, err := ReadCheckpoint(filepath.Join(dir, checkpointName(3)))
	if err != nil {
		t.Fatal(err)
	}
	var at []int64
	hook := Hook{Every: 2, Run: func(_ context.Context, p *HookPoint) (map[string]float64, error) {
		at = append(at, p.Step)
		return nil, nil
	}}
	if _, err := Train(context.Background(), Options{Config: cfg, Source: src(c.Header.Position), CheckpointDir: t.TempDir(),
		Resume: c, Hooks: []Hook{hook}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(at, []int64{4, 6}) {
		t.Errorf("hooks ran at steps %v, want 4 and 6", at)
	}
}

// TestHookFailures: a hook's error ends training naming the step; a signal during a hook
// stops training as cancelled, with a checkpoint of that step.
func TestHookFailures(t *testing.T) {
	cfg := tinyConfig()
	cfg.Train.Steps = 10
	src := func() *synthSource { return &synthSource{batch: 8, size: 8, seed: 5, perEpoch: 64} }
	broken := Hook{Every: 4, Run: func(_ context.Context, p *HookPoint) (map[string]float64, error) {
		if p.Step == 4 {
			return nil, errors.New("monitor set unreadable")
		}
		return nil, nil
	}}
	res, err := Train(context.Background(), Options{Config: cfg, Source: src(), CheckpointDir: t.TempDir(), Hooks: []Hook{broken}})
	if err == nil || !strings.Contains(err.Error(), "trainer: step 4: monitor set unreadable") || res.Step != 4 {
		t.Errorf("result %+v, error %v; want the hook's error at step 4", res, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signalled := Hook{Every: 3, Run: func(ctx context.Context, p *HookPoint) (map[string]float64, error) {
		if p.Step == 3 {
			cancel()
			return nil, ctx.Err()
		}
		return nil, nil
	}}
	dir := t.TempDir()
	res, err = Train(ctx, Options{Config: cfg, Source: src(), CheckpointDir: dir, Hooks: []Hook{signalled}})
	if !errors.Is(err, context.Canceled) || res == nil || res.Reason != StopCanceled || res.Step != 3 {
		t.Fatalf("result %+v, error %v; want cancelled at step 3", res, err)
	}
	if c, err := LatestCheckpoint(dir, nil); err != nil || c.Header.Step != 3 {
		t.Errorf("latest checkpoint %v, %v; want step 3", c, err)
	}
}
