package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments/metric"
	"github.com/natssl/natssl/internal/atomicfile"
)

// Tracker receives a run's metrics and checkpoints. *experiments.Run satisfies it. Keeping the
// run's heartbeat is the caller's job (the tracker's KeepAlive), not the training loop's: a
// step may take longer than a beat's interval.
type Tracker interface {
	LogMetrics(ctx context.Context, step int64, values map[string]float64) error
	// RecordCheckpoint commits the metrics logged so far and the checkpoint's record. It is
	// called before the checkpoint file is renamed into place, so that no checkpoint is ever
	// visible whose steps the tracker lacks.
	RecordCheckpoint(ctx context.Context, step int64, path, sha256 string, bytes int64) error
	// ForgetCheckpoint removes the record of a checkpoint file that was pruned, or that could
	// not be written after it was recorded.
	ForgetCheckpoint(ctx context.Context, path string) error
}

// Batch is one global batch: N images, each view N × 3 × s × s NCHW, normalised: two views
// of Size, or with multi-crop the views of augment.crops' groups in order. Release, when set,
// returns the batch's memory after the step.
type Batch struct {
	N, Size, Epoch int
	Views          [][]float32
	Release        func()
}

// Source yields the training batches. Next returns io.EOF when the data ends; Position is
// where the stream stands just after the last batch Next returned, and is what a resumed
// run restarts from.
type Source interface {
	Next(ctx context.Context) (*Batch, error)
	Position() Position
}

// MetricsSource is implemented by a Source that has counters worth logging with the
// training metrics (skipped images, say).
type MetricsSource interface {
	Metrics() map[string]float64
}

// ErrNonFinite is wrapped by the error of a run whose loss became NaN or infinite.
var ErrNonFinite = errors.New("loss is not finite")

// ErrStopped is wrapped by the error of a run stopped by a signal (StopCanceled): over ranks,
// by a signal to any of them.
var ErrStopped = errors.New("trainer: stopped by a signal")

// ErrPeerStopped is wrapped, beside ErrStopped, by the error of a rank that the others stopped
// without a signal of its own (one sent to some ranks only: launchers forward theirs to all).
var ErrPeerStopped = errors.New("another rank got the signal")

// StopReason says why Train returned.
type StopReason string

const (
	StopSteps     StopReason = "steps"      // the last step was reached
	StopTimeLimit StopReason = "time_limit" // train.time_limit was reached
	StopData      StopReason = "data"       // the source ended (train.epochs reached)
	StopCanceled  StopReason = "canceled"   // the context was cancelled (a signal)
)

// Options configure Train.
type Options struct {
	Config  *configs.Config // required, validated
	Source  Source          // required
	Tracker Tracker         // nil: metrics are not recorded
	// CheckpointDir receives step-NNNNNNNNN.ckpt files (required). natssl train uses
	// <run.out_dir>/<run id>/checkpoints; SageMaker points it at /opt/ml/checkpoints.
	CheckpointDir string
	RunID         string
	// TotalSteps is the length of the schedule; 0 means train.steps. natssl train resolves
	// train.epochs into steps from the data's length.
	TotalSteps int64
	// Resume continues from a checkpoint (whose Position the Source must already start at).
	Resume *Checkpoint
	// Force resumes even when the checkpoint's maths differs from Config.
	Force bool
	// OnStep is called after every step (progress display), and at step 0 when hooks ran on
	// the initial model.
	OnStep func(StepInfo)
	// Hooks run between steps on a still model (the online monitor): see Hook.
	Hooks []Hook
	// Log receives notices (incomplete batches skipped, checkpoints written). nil: discarded.
	Log io.Writer
	// Ranks are the processes the run spans (nil: this one alone). Every rank calls Train
	// with the same Config and Resume; Source yields this rank's part of every batch (and
	// must be a PositionMerger). Rank 0 alone is given the Tracker and the Hooks and writes
	// the checkpoints; the others pass none.
	Ranks Ranks

	build buildOptions // tests: a model without batch statistics
}

// StepInfo describes a finished step for progress display.
type StepInfo struct {
	Step, Total int64
	Epoch       int
	Loss, LR    float64
	ImagesPerS  float64 // over the last log interval
	Elapsed     time.Duration
	// Metrics are what the hooks measured after this step; nil when none ran.
	Metrics map[string]float64
}

// Result is how a training run ended.
type Result struct {
	Step       int64
	Loss       float64
	Reason     StopReason
	Checkpoint string        // the last checkpoint written
	Elapsed    time.Duration // training time: what hooks took is left out
	Images     int64
}

// Train runs the config's method until the last step, the time limit, the end of the data, or ctx's
// cancellation, writing checkpoints along the way and always a final one. On cancellation it
// returns the result and an error wrapping ctx.Err(); on a NaN or infinite loss, an error
// wrapping ErrNonFinite that names the step, without writing a checkpoint of the bad state.
func Train(ctx context.Context, opt Options) (*Result, error) {
	t, err := newTraining(opt)
	if err != nil {
		return nil, err
	}
	defer t.net.close()
	return t.run(ctx)
}

// training is one call of Train.
type training struct {
	opt   Options
	cfg   *configs.Config
	ranks Ranks // nil: this process alone
	net   *net
	optim *optimizer
	total int64
	peak  float64
	log   io.Writer

	step       int64
	epoch      int
	pos        Position
	loss       float64
	lastCkpt   string
	lastCkStep int64
	ckptTaken  bool // a checkpoint of lastCkStep exists (written by rank 0)
	incomplete int64
}

func newTraining(opt Options) (*training, error) {
	cfg := opt.Config
	if cfg == nil || opt.Source == nil || opt.CheckpointDir == "" {
		return nil, errors.New("trainer: Options need Config, Source and CheckpointDir")
	}
	total := opt.TotalSteps
	if total == 0 {
		total = int64(cfg.Train.Steps)
	}
	if total <= 0 {
		return nil, fmt.Errorf("trainer: nothing to train: train.steps is %d and no step count was resolved from train.epochs", cfg.Train.Steps)
	}
	ranks := opt.Ranks
	if ranks != nil && ranks.Size() == 1 {
		ranks = nil
	}
	if _, ok := opt.Source.(PositionMerger); ranks != nil && !ok {
		return nil, errors.New("trainer: a run over several ranks needs a Source that merges positions (PositionMerger)")
	}
	if opt.Resume != nil && !opt.Force {
		if d := MathDiff(opt.Resume.Header, cfg, sizeOf(ranks)); len(d) > 0 {
			return nil, &MismatchError{Path: opt.Resume.Path, Diffs: d}
		}
	}
	build := opt.build
	build.ranks = ranks
	build.gpu.precision, build.gpu.optimizer = cfg.Train.Precision, cfg.Train.Optimizer
	localRank, localSize := 0, 1
	if ranks != nil {
		localRank, localSize = ranks.LocalRank(), ranks.LocalSize()
	}
	devices, err := resolveDevices(cfg, localRank)
	if err != nil {
		return nil, err
	}
	resolved := cfg.Clone()
	resolved.Train.Devices = devices
	if err := CheckRankMemory(resolved, sizeOf(ranks), localSize); err != nil {
		return nil, err
	}
	spec := specOf(cfg)
	spec.devices = devices
	n, err := newSpecNet(spec, build)
	if err != nil {
		return nil, err
	}
	o, err := newOptimizer(cfg.Train.Optimizer, cfg.Train.Momentum, cfg.Train.WeightDecay, n.params)
	if err != nil {
		n.close()
		return nil, err
	}
	t := &training{opt: opt, cfg: cfg, ranks: ranks, net: n, optim: o, total: total,
		peak: peakLR(cfg.Train.LR, cfg.Data.BatchSize), log: opt.Log}
	if t.log == nil {
		t.log = io.Discard
	}
	if opt.Resume != nil {
		if err := t.restore(opt.Resume); err != nil {
			n.close()
			return nil, err
		}
	}
	return t, nil
}

// MismatchError refuses a resume whose config changes the maths.
type MismatchError struct {
	Path  string
	Diffs []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("trainer: resume from %s: the config changes the maths (%s); use --resume-force to resume anyway",
		e.Path, joinDiffs(e.Diffs))
}

func joinDiffs(d []string) string {
	s := ""
	for i, x := range d {
		if i > 0 {
			s += "; "
		}
		s += x
	}
	return s
}

func (t *training) run(ctx context.Context) (*Result, error) {
	cfg := t.cfg
	if err := t.hooksAtStart(ctx); err != nil {
		return t.fail(err)
	}
	bg := context.WithoutCancel(ctx) // checkpoints and the tracker must outlive a signal
	start := time.Now()
	if removed, err := RemoveTemporaries(t.opt.CheckpointDir); err != nil {
		return t.fail(err)
	} else if len(removed) > 0 {
		fmt.Fprintf(t.log, "removed %d temporary checkpoint file(s) that a killed write left in %s\n", len(removed), t.opt.CheckpointDir)
	}
	var (
		reason     StopReason
		images     int64
		winStart   = start
		winImages  int64
		winWait    time.Duration
		winLossSum float64
		winLossN   int
		imagesPerS float64
		lastLR     float64
		stepEpoch  = t.pos.Epoch // epoch of the last full batch (or where the data starts)
	)
	timeUp := false // rank 0's clock, over ranks: the next step's agreement stops them all
	// logWindow records the steps since the previous row: the mean loss over them and the last
	// step's loss, the rate, and the counters. It runs every train.log_every steps and once more
	// whatever ends the run, so that the tracker's last step is the run's last step. Over ranks
	// the counters are the world's (worldCounters, a collective): together says that every rank
	// makes this call, as at a log step or an end they agreed on. A failure may be this rank's
	// alone, so then it gathers nothing, and rank 0 logs the window's world figures (loss, rate,
	// epoch) without the counters the other ranks hold.
	logWindow := func(now time.Time, together bool) error {
		if winLossN == 0 {
			return nil
		}
		secs := now.Sub(winStart).Seconds()
		imagesPerS = float64(winImages) / secs
		m := map[string]float64{
			metric.Loss: winLossSum / float64(winLossN), metric.LossLast: t.loss, metric.LR: lastLR,
			metric.ImagesPerS: imagesPerS, metric.Epoch: float64(t.epoch),
			metric.BatchesIncomplete: float64(t.incomplete),
		}
		if together || t.ranks == nil {
			wait, counters, err := t.worldCounters(winWait.Seconds() / secs)
			if err != nil {
				return err
			}
			m[metric.DataWait] = wait
			for k, v := range counters {
				m[k] = v
			}
		}
		winStart, winImages, winWait, winLossSum, winLossN = now, 0, 0, 0, 0
		return t.logMetrics(bg, m)
	}
	fail := func(err error) (*Result, error) {
		_ = logWindow(time.Now(), false) // the good steps before the failure; the failure is the error
		return t.fail(err)
	}
	for t.step < t.total {
		if ctx.Err() != nil && t.ranks == nil {
			reason = StopCanceled
			break
		}
		w0 := time.Now()
		b, err := t.opt.Source.Next(ctx)
		winWait += time.Since(w0)
		if t.ranks != nil {
			// The ranks take every step together: a signal or the time limit on one stops
			// all, a batch short on one is left out by all.
			if err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
				return fail(fmt.Errorf("trainer: step %d: next batch: %w", t.step+1, err))
			}
			mine := stepAgreement{stop: ctx.Err() != nil, timeUp: timeUp && t.ranks.Rank() == 0, eof: errors.Is(err, io.EOF)}
			if err == nil {
				mine.n, mine.epoch = b.N, b.Epoch
			}
			v, aerr := agree(t.ranks, mine, t.net.per*len(t.net.replicas))
			if aerr != nil || v.reason != "" {
				if err == nil && b.Release != nil {
					b.Release()
				}
				if aerr != nil {
					return fail(aerr)
				}
				reason = v.reason
				break
			}
			if v.short {
				// Make every rank see the batch as short, and the latest epoch.
				b.N, b.Epoch = -1, v.maxEpoch
			}
		}
		if errors.Is(err, io.EOF) {
			reason = StopData
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				reason = StopCanceled
				break
			}
			// One process (over ranks a failed read ended the step above): the good steps before
			// the failure are committed with its checkpoint.
			_ = logWindow(time.Now(), false)
			return t.failData(bg, fmt.Errorf("trainer: step %d: next batch: %w", t.step+1, err))
		}
		if b.N != t.net.per*len(t.net.replicas) {
			// The graphs have a fixed batch: a short batch (the end of an epoch; the loader
			// replaces bad images) is left out, as PyTorch's drop_last does.
			if b.Epoch >= stepEpoch+2 {
				if b.Release != nil {
					b.Release()
				}
				return fail(fmt.Errorf("trainer: two epochs went by without one full batch of data.batch_size %d (the last had %d images here): the data set is smaller than a batch, or most of its images are being skipped", cfg.Data.BatchSize, max(b.N, 0)))
			}
			t.incomplete++
			if b.Release != nil {
				b.Release()
			}
			t.pos = t.opt.Source.Position()
			continue
		}
		stepCtx := ctx
		if t.ranks != nil {
			stepCtx = context.WithoutCancel(ctx) // a step the ranks agreed on is taken by all
		}
		loss, err := t.net.step(stepCtx, b.Views)
		if b.Release != nil {
			b.Release()
		}
		if err != nil {
			if ctx.Err() != nil && t.ranks == nil {
				reason = StopCanceled
				break
			}
			// Over ranks the step ran whatever the signal: its error is a failure, maybe of
			// this rank alone, which must not go on to the end's collectives.
			return fail(fmt.Errorf("trainer: step %d: %w", t.step+1, err))
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return fail(fmt.Errorf("trainer: step %d: %w (%v); the last good checkpoint is %s",
				t.step+1, ErrNonFinite, loss, orNone(t.lastCkpt)))
		}
		lr := schedule(t.peak, int(t.step), cfg.Train.WarmupSteps, int(t.total))
		if err := t.net.update(t.optim, lr); err != nil {
			return t.fail(fmt.Errorf("trainer: step %d: update: %w", t.step+1, err))
		}
		if err := t.net.updated(t.step, t.total); err != nil {
			return t.fail(fmt.Errorf("trainer: step %d: target network: %w", t.step+1, err))
		}
		t.step++
		t.epoch, t.loss, t.pos = b.Epoch, loss, t.opt.Source.Position()
		stepEpoch = b.Epoch
		// Over ranks every rank trained as many images: the world's are the global batch.
		images += int64(b.N * sizeOf(t.ranks))
		winImages += int64(b.N * sizeOf(t.ranks))
		winLossSum += loss
		winLossN++
		last := t.step == t.total || cfg.Train.TimeLimit.D() > 0 && time.Since(start) >= cfg.Train.TimeLimit.D()
		hooked, paused, err := t.runHooks(ctx, last)
		if err != nil {
			return fail(err)
		}
		start, winStart = start.Add(paused), winStart.Add(paused)

		lastLR = lr
		now := time.Now()
		if t.step%int64(max(cfg.Train.LogEvery, 1)) == 0 || t.step == t.total {
			if err := logWindow(now, true); err != nil {
				return t.fail(err)
			}
		}
		if t.opt.OnStep != nil {
			t.opt.OnStep(StepInfo{Step: t.step, Total: t.total, Epoch: t.epoch, Loss: loss, LR: lr,
				ImagesPerS: imagesPerS, Elapsed: now.Sub(start), Metrics: hooked})
		}
		if every := int64(cfg.Train.CheckpointEvery); every > 0 && t.step%every == 0 && t.step != t.total {
			// The steps since the last row are logged first, so that the checkpoint commits
			// every step up to it: a run resumed from it has lost none of its metrics.
			if err := logWindow(now, true); err != nil {
				return nil, err
			}
			if err := t.checkpoint(bg); err != nil {
				return nil, err
			}
		}
		if lim := cfg.Train.TimeLimit.D(); lim > 0 && now.Sub(start) >= lim {
			if t.ranks == nil {
				reason = StopTimeLimit
				break
			}
			timeUp = true
		}
	}
	if reason == "" {
		reason = StopSteps
	}
	if err := logWindow(time.Now(), true); err != nil { // every rank left the loop at this step
		return t.fail(err)
	}
	if t.lastCkStep != t.step || !t.ckptTaken {
		if err := t.checkpoint(bg); err != nil {
			return nil, err
		}
	}
	res := &Result{Step: t.step, Loss: t.loss, Reason: reason, Checkpoint: t.lastCkpt,
		Elapsed: time.Since(start), Images: images}
	if reason == StopCanceled {
		cause := context.Cause(ctx)
		if cause == nil {
			cause = ErrPeerStopped
		}
		ckpt := orNone(t.lastCkpt)
		if t.ranks != nil && t.ranks.Rank() != 0 {
			ckpt = "written by rank 0"
		}
		return res, fmt.Errorf("%w at step %d (checkpoint %s): %w", ErrStopped, t.step, ckpt, cause)
	}
	return res, nil
}

// sizeOf is the number of processes of ranks (nil: 1).
func sizeOf(ranks Ranks) int {
	if ranks == nil {
		return 1
	}
	return ranks.Size()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// fail returns err with the progress so far; the last checkpoint stays as it is.
func (t *training) fail(err error) (*Result, error) {
	return &Result{Step: t.step, Loss: t.loss, Checkpoint: t.lastCkpt}, err
}

// failData ends a run whose data failed (storage unreachable past its retries): the state
// after the last step is sound, so it is checkpointed first, and a resume continues there
// once the data can be read again.
func (t *training) failData(ctx context.Context, err error) (*Result, error) {
	if t.step > 0 && t.lastCkStep != t.step {
		if cerr := t.checkpoint(ctx); cerr != nil {
			return t.fail(fmt.Errorf("%w; and the checkpoint at step %d failed: %v", err, t.step, cerr))
		}
	}
	res, _ := t.fail(err)
	if t.lastCkpt == "" {
		return res, err // nothing trained yet: nothing to resume
	}
	return res, fmt.Errorf("%w (resumable from %s)", err, t.lastCkpt)
}

func (t *training) logMetrics(ctx context.Context, m map[string]float64) error {
	if t.opt.Tracker == nil {
		return nil
	}
	if err := t.opt.Tracker.LogMetrics(ctx, t.step, m); err != nil {
		return fmt.Errorf("trainer: log metrics at step %d: %w", t.step, err)
	}
	return nil
}

// checkpoint writes the state after t.step, records it, and prunes old checkpoints. Over
// ranks, every rank calls it at the same step, and rank 0 writes the world's state.
//
// The tracker commits first (the metrics logged up to this step, then the checkpoint's row),
// the file is renamed into place after: a resume continues after the newest visible file, so
// a file visible before its steps were committed would lose those steps for good. A crash
// between the commit and the rename leaves a row without its file, which the resumed run
// forgets (the steps after the previous checkpoint are trained and logged again, to the same
// values); if the tracker cannot commit (a full disk), no checkpoint is written.
func (t *training) checkpoint(ctx context.Context) error {
	pos, err := t.gatherPosition()
	if err != nil {
		return err
	}
	t.lastCkStep, t.ckptTaken = t.step, true
	if t.ranks != nil && t.ranks.Rank() != 0 {
		return nil
	}
	h, tensors, err := t.snapshot(pos)
	if err != nil {
		return err
	}
	data, err := encodeCheckpoint(h, tensors)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(t.opt.CheckpointDir, 0o755); err != nil {
		return fmt.Errorf("trainer: checkpoint directory %s: %w", t.opt.CheckpointDir, err)
	}
	path := filepath.Join(t.opt.CheckpointDir, checkpointName(t.step))
	if t.opt.Tracker != nil {
		if err := t.opt.Tracker.RecordCheckpoint(ctx, t.step, path, sha256Hex(data), int64(len(data))); err != nil {
			return fmt.Errorf("trainer: record checkpoint %s: %w", path, err)
		}
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		err = fmt.Errorf("trainer: write checkpoint %s: %w", path, err)
		if t.opt.Tracker != nil {
			if ferr := t.opt.Tracker.ForgetCheckpoint(ctx, path); ferr != nil {
				err = fmt.Errorf("%w; and its record stays: %v", err, ferr)
			}
		}
		return err
	}
	t.lastCkpt, t.lastCkStep = path, t.step
	fmt.Fprintf(t.log, "checkpoint: step %d → %s\n", t.step, path)
	pruned, err := pruneCheckpoints(t.opt.CheckpointDir, t.cfg.Train.KeepCheckpoints)
	if t.opt.Tracker != nil {
		for _, p := range pruned {
			if ferr := t.opt.Tracker.ForgetCheckpoint(ctx, p); ferr != nil && err == nil {
				err = fmt.Errorf("trainer: forget pruned checkpoint %s: %w", p, ferr)
			}
		}
	}
	return err
}
