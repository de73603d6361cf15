package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

// Worker trains and scores one trial. internal/pipeline provides it, with the training and the
// probe every natssl run uses, so that a trial is a normal tracked run.
type Worker interface {
	// Train trains cfg as a tracked run tagged with tags, or continues run resume (a full id)
	// from its newest checkpoint when resume is not "" (from step 0 under its id when it
	// left none). It returns an error wrapping
	// ErrDiverged when the loss became NaN or infinite.
	Train(ctx context.Context, cfg *configs.Config, resume string, tags map[string]string) error
	// Validate scores the newest checkpoint of run runID on cfg's validation suite
	// (eval.val_csv) and records the result against the run as suite "val", with every test
	// image's outcome.
	Validate(ctx context.Context, cfg *configs.Config, runID string) error
}

// ErrDiverged is wrapped by a Worker's Train error when the loss stopped being finite: the
// trial is over, without a score (a recipe's lr can be too high; running it again changes
// nothing).
var ErrDiverged = errors.New("training diverged")

// RunTrial does what trial n still needs, in this process: train it (continuing its run from
// the newest checkpoint, within what is left of the budget, when an earlier attempt stopped
// short), then score it on the validation suite. A finished trial is left as it is; one
// whose run another process is training is refused.
func RunTrial(ctx context.Context, db *experiments.DB, s *Sweep, n int, w Worker, log io.Writer) error {
	if _, err := s.Trial(n); err != nil {
		return err
	}
	st, err := trialStatus(ctx, db, s, n)
	if err != nil {
		return err
	}
	cfg, err := s.Config(n)
	if err != nil {
		return err
	}
	resume := ""
	switch st.State {
	case Done, Diverged:
		fmt.Fprintf(log, "sweep %s: trial %d is %s\n", s.Short(), n, st.State)
		return nil
	case Running:
		return fmt.Errorf("sweep %s: trial %d: run %s is being trained by another process (its heartbeat is %s old)",
			s.Short(), n, st.Run.ID, time.Since(st.Run.HeartbeatAt).Round(time.Second))
	case Trained:
		return w.Validate(ctx, cfg, st.Run.ID)
	case Unfinished:
		if st.Step == 0 && st.Run.Status == experiments.StatusFailed {
			fmt.Fprintf(log, "sweep %s: trial %d: run %s (%s) left no checkpoint; starting the trial again\n",
				s.Short(), n, st.Run.ID, st.Run.DisplayStatus())
			break
		}
		resume = st.Run.ID
		if st.Step == 0 {
			// Killed before its first checkpoint (KILLED, or RUNNING with its process gone): the
			// run is taken up from step 0 under its id, as natssl train --resume does, rather
			// than left behind beside a new one.
			fmt.Fprintf(log, "sweep %s: trial %d: run %s (%s) was stopped before its first checkpoint; taking it up from step 0\n",
				s.Short(), n, st.Run.ID, st.Run.DisplayStatus())
			break
		}
		if budget := s.Budget(); budget > 0 {
			used, err := TrainedFor(ctx, db, st.Run.ID, st.Step, cfg.Data.BatchSize)
			if err != nil {
				return err
			}
			// At least a moment: a time limit of 0 would mean none.
			left := max(budget-used, time.Second)
			cfg.Train.TimeLimit = configs.Duration(left)
			fmt.Fprintf(log, "sweep %s: trial %d: continuing run %s from step %d, %s of the %s budget left\n",
				s.Short(), n, st.Run.ID, st.Step, left.Round(time.Second), budget)
		}
	}
	err = w.Train(ctx, cfg, resume, s.Tags(n))
	if errors.Is(err, ErrDiverged) {
		if st, serr := trialStatus(ctx, db, s, n); serr == nil && st.Run != nil {
			if terr := db.SetTags(context.WithoutCancel(ctx), st.Run.ID, map[string]string{tagResult: "diverged"}, nil); terr != nil {
				return errors.Join(err, terr)
			}
			fmt.Fprintf(log, "sweep %s: trial %d diverged: %v\n", s.Short(), n, err)
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if st, err = trialStatus(ctx, db, s, n); err != nil {
		return err
	}
	// Scored afresh even where a score is recorded at this step: it was of an earlier
	// checkpoint of the same step, and recording again replaces it.
	if st.Run == nil || (st.State != Trained && st.State != Done) {
		return fmt.Errorf("sweep %s: trial %d: training returned, but its run is %v", s.Short(), n, st.State)
	}
	return w.Validate(ctx, cfg, st.Run.ID)
}

// trialStatus reads one trial's state.
func trialStatus(ctx context.Context, db *experiments.DB, s *Sweep, n int) (TrialStatus, error) {
	all, err := Status(ctx, db, s)
	if err != nil {
		return TrialStatus{}, err
	}
	return all[n-1], nil
}

// TrainedFor estimates how long run runID trained to reach step: the time its logged windows
// took (each window's steps × batch images ÷ its images/s), so that neither the pauses
// between attempts nor start-up count against the budget.
func TrainedFor(ctx context.Context, db *experiments.DB, runID string, step int64, batch int) (time.Duration, error) {
	pts, err := db.MetricSeries(ctx, runID, metric.ImagesPerS)
	if err != nil {
		return 0, err
	}
	return windowTime(pts, step, batch), nil
}

// windowTime adds up the seconds of the windows ending at the points up to step, and of the
// steps after the last of them at its rate.
func windowTime(pts []experiments.Point, step int64, batch int) time.Duration {
	var secs float64
	var prev int64
	rate := math.NaN()
	for _, p := range pts {
		if p.Step > step {
			break
		}
		if p.Value > 0 && !math.IsInf(p.Value, 0) {
			rate = p.Value
			secs += float64((p.Step-prev)*int64(batch)) / rate
		}
		prev = p.Step
	}
	if step > prev && rate > 0 {
		secs += float64((step-prev)*int64(batch)) / rate
	}
	return time.Duration(secs * float64(time.Second))
}
