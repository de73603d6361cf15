package sweep

import (
	"context"

	"github.com/natssl/natssl/experiments"
)

// State is where a trial stands, read from its newest run in the tracker.
type State int

// The states of a trial.
const (
	Pending    State = iota // no run yet
	Running                 // its run is RUNNING and beating: a process is training it now
	Unfinished              // its run stopped short: killed, failed, or RUNNING with its process gone
	Trained                 // its run finished but is not scored on the validation suite yet
	Done                    // scored on the validation suite
	Diverged                // its loss became NaN or infinite: finished, without a score
)

var stateNames = [...]string{"pending", "running", "unfinished", "trained", "done", "diverged"}

func (s State) String() string { return stateNames[s] }

// Finished reports whether the trial needs no more work.
func (s State) Finished() bool { return s == Done || s == Diverged }

// tagResult marks a trial's run with how the trial ended when that is not in the run's
// status: "diverged".
const tagResult = "sweep_result"

// TrialStatus is one trial and where it stands.
type TrialStatus struct {
	experiments.SweepTrial
	State State
	Run   *experiments.RunRecord // the newest run of the trial; nil when Pending
	// Step is the step of the run's newest checkpoint (0: none).
	Step int64
	// Score is the validation result at that checkpoint; nil unless Done.
	Score *experiments.EvalSummary
}

// Status reads every trial's state from the tracker.
func Status(ctx context.Context, db *experiments.DB, s *Sweep) ([]TrialStatus, error) {
	runs, err := db.SweepRuns(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	newest := map[int]string{}
	for _, r := range runs { // oldest first
		newest[r.Trial] = r.RunID
	}
	out := make([]TrialStatus, len(s.Trials))
	for i, t := range s.Trials {
		st := TrialStatus{SweepTrial: t}
		if id, ok := newest[t.N]; ok {
			rec, err := db.GetRun(ctx, id)
			if err != nil {
				return nil, err
			}
			st.Run = rec
			st.State, st.Step, st.Score = judge(rec)
		}
		out[i] = st
	}
	return out, nil
}

// judge says where a trial's run leaves it.
func judge(rec *experiments.RunRecord) (State, int64, *experiments.EvalSummary) {
	var step int64
	if n := len(rec.Checkpoints); n > 0 {
		step = rec.Checkpoints[n-1].Step
	}
	switch {
	case rec.Tags[tagResult] == "diverged":
		return Diverged, step, nil
	case rec.Status == experiments.StatusRunning && !rec.Stale:
		return Running, step, nil
	case rec.Status != experiments.StatusFinished:
		return Unfinished, step, nil
	}
	// Every evaluation is kept: the trial's score is the last recorded on the validation suite
	// at its last checkpoint.
	var score *experiments.EvalSummary
	for _, sum := range experiments.Summarize(rec.Evals, experiments.SuiteValidation, experiments.MetricAccuracy) {
		if sum.CheckpointStep == step {
			score = &sum
		}
	}
	if score != nil {
		return Done, step, score
	}
	return Trained, step, nil
}

// Best is the done trial with the highest validation mean (the first of equals); nil when no
// trial is done.
func Best(sts []TrialStatus) *TrialStatus {
	var best *TrialStatus
	for i := range sts {
		st := &sts[i]
		if st.State != Done || st.Score == nil || st.Score.Mean != st.Score.Mean {
			continue
		}
		if best == nil || st.Score.Mean > best.Score.Mean {
			best = st
		}
	}
	return best
}
