package trainer

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/natssl/natssl/configs"
)

// TestMain checks for leaked goroutines, and doubles as the training subprocess of
// TestSignalCheckpoints when NATSSL_TRAINER_CHILD names a checkpoint directory, and as the
// device check of TestCheckDevicesRefuses.
func TestMain(m *testing.M) {
	if dir := os.Getenv("NATSSL_TRAINER_CHILD"); dir != "" {
		os.Exit(child(dir))
	}
	if spec := os.Getenv(checkChildEnv); spec != "" {
		os.Exit(runCheckChild(spec))
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		closeSim() // the host simulation of the GPU kernels, when a test built it
		os.Exit(code)
	}))
}

// child trains "forever" on NATSSL_TRAINER_CHILD_DEVICE until SIGTERM, then exits 3 if
// Train stopped as cancelled.
func child(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg := tinyConfig()
	cfg.Train.Devices = []string{os.Getenv("NATSSL_TRAINER_CHILD_DEVICE")}
	cfg.Train.Steps = 1_000_000
	cfg.Train.CheckpointEvery = 0
	src := &synthSource{batch: cfg.Data.BatchSize, size: cfg.Data.ImageSize, seed: 1, perEpoch: 1 << 30}
	fmt.Println("ready")
	res, err := Train(ctx, Options{Config: cfg, Source: src, CheckpointDir: dir, OnStep: func(s StepInfo) {
		if s.Step == 1 {
			fmt.Println("stepping")
		}
	}})
	if err != nil && res != nil && res.Reason == StopCanceled {
		fmt.Printf("stopped at %d %s\n", res.Step, res.Checkpoint)
		return 3
	}
	fmt.Println("unexpected:", err)
	return 1
}

// raceEnabled is set when the tests run under the race detector (race_test.go).
var raceEnabled bool

// tinyConfig is a config for a narrow convnet on 8-pixel images, fast under -race.
func tinyConfig() *configs.Config {
	cfg := configs.Default()
	cfg.Run.Seed = 7
	cfg.Data.ImageSize = 8
	cfg.Data.BatchSize = 8
	cfg.Model = configs.Model{Backbone: "convnet-small", Width: 2, ProjHidden: 8, ProjDim: 4}
	cfg.Train.Steps = 6
	cfg.Train.WarmupSteps = 2
	cfg.Train.Devices = []string{"cpu"}
	cfg.Train.Optimizer = "adamw"
	cfg.Train.LR = 0.01
	cfg.Train.CheckpointEvery = 3
	cfg.Train.KeepCheckpoints = 5
	cfg.Train.LogEvery = 2
	cfg.Train.TimeLimit = 0
	return cfg
}

// synthSource yields deterministic random batches: sample i of epoch e is drawn from a
// stream seeded by (seed, e, i), so a source started at a Position continues exactly.
type synthSource struct {
	batch, size int
	sizes       []int // of each view; nil: two of size
	seed        int64
	perEpoch    int64 // samples per epoch
	epochs      int   // 0 = forever
	pos         Position
	nan         int64 // if > 0, the batch delivered as this number is NaN
	delivered   int64
}

func (s *synthSource) Next(ctx context.Context) (*Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.epochs > 0 && s.pos.Epoch >= s.epochs {
		return nil, ioEOF
	}
	n := int64(s.batch)
	if left := s.perEpoch - s.pos.Consumed; left < n {
		n = left
	}
	sizes := s.sizes
	if sizes == nil {
		sizes = []int{s.size, s.size}
	}
	b := &Batch{N: int(n), Size: s.size, Epoch: s.pos.Epoch, Views: make([][]float32, len(sizes))}
	for v, sz := range sizes {
		b.Views[v] = make([]float32, int(n)*3*sz*sz)
	}
	for i := int64(0); i < n; i++ {
		r := rand.New(rand.NewPCG(uint64(s.seed), uint64(s.pos.Epoch)<<32|uint64(s.pos.Consumed+i)))
		per := 3 * s.size * s.size
		base := make([]float32, per)
		for j := range base {
			base[j] = float32(r.NormFloat64())
		}
		for v, sz := range sizes {
			vp := 3 * sz * sz
			for j := range vp {
				b.Views[v][int(i)*vp+j] = base[j*per/vp] + 0.3*float32(r.NormFloat64())
			}
		}
	}
	s.delivered++
	if s.nan > 0 && s.delivered == s.nan {
		b.Views[0][0] = float32(nan())
	}
	s.pos.Consumed += n
	if s.pos.Consumed >= s.perEpoch {
		s.pos = Position{Epoch: s.pos.Epoch + 1}
	}
	return b, nil
}

func (s *synthSource) Position() Position { return s.pos }

var ioEOF = io.EOF

func nan() float64 { return math.NaN() }
