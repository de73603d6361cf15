package report

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/sweep"
)

// SweepReport shows a sweep's trials side by side, each judged on the validation suite: the
// swept values, how far it trained, its validation score with a 95% interval and its paired
// difference to the best trial, the best trial (and, with seeds, the best configuration)
// marked, and the score plotted against each swept key.
type SweepReport struct {
	Generated time.Time
	DBPath    string
	Sweep     *sweep.Sweep
	Keys      []string
	Trials    []*SweepTrial
	Configs   []*SweepConfig // one per configuration; shown when the sweep has several seeds
	Best      *SweepTrial    // the trial with the highest score; nil when none is scored
	// BestConfig is the configuration with the highest mean over its seeds; nil as Best.
	BestConfig *SweepConfig
	Resamples  int
	Seed       uint64
	Plots      []Plot
}

// SweepTrial is one trial's row.
type SweepTrial struct {
	sweep.TrialStatus
	Value      map[string]string // the swept keys' values
	Steps      int64             // steps trained (the newest checkpoint's)
	TotalSteps int64             // train.steps of the trial; 0 when unknown
	Budget     time.Duration     // train.time_limit of the trial
	Time       time.Duration     // time trained, from the logged throughput (pauses left out)
	Mean       float64           // validation mean over tasks; NaN when not scored
	Tasks      int
	CI         Interval // of Mean
	Delta      float64  // Mean minus the best trial's
	DeltaCI    Interval // of Delta, paired image by image
	NoInterval string   // why CI is missing, when it is
	outcomes   map[string]taskOutcomes
}

// SweepConfig is one configuration over its seeds.
type SweepConfig struct {
	N          int
	Trials     []*SweepTrial
	Scored     int
	Mean, SD   float64
	Value      map[string]string
	BestMarked bool
}

// SweepOptions choose how the intervals are drawn; zero values are the defaults of Options.
type SweepOptions struct {
	Resamples int
	Seed      uint64
	Now       func() time.Time
}

// BuildSweep gathers sweep s's trials from db into a report.
func BuildSweep(ctx context.Context, db *experiments.DB, s *sweep.Sweep, opt SweepOptions) (*SweepReport, error) {
	if opt.Resamples <= 0 {
		opt.Resamples = DefaultResamples
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	sts, err := sweep.Status(ctx, db, s)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	rep := &SweepReport{Generated: opt.Now(), DBPath: db.Path(), Sweep: s, Keys: s.Spec.Keys, Resamples: opt.Resamples, Seed: opt.Seed}
	configs := map[int]*SweepConfig{}
	for _, st := range sts {
		t := &SweepTrial{TrialStatus: st, Value: map[string]string{}, Mean: math.NaN(), Delta: math.NaN(),
			TotalSteps: int64(s.Base.Train.Steps), Budget: s.Budget()}
		for _, kv := range st.Values {
			t.Value[kv.Key] = kv.Value
		}
		if v, ok := t.Value["train.steps"]; ok {
			t.TotalSteps, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := t.Value["train.time_limit"]; ok {
			t.Budget, _ = time.ParseDuration(v)
		}
		if st.Run != nil {
			t.Steps = st.Step
			batch := int(s.Base.Data.BatchSize)
			for _, p := range st.Run.Params {
				if p.Key == "data.batch_size" {
					batch, _ = strconv.Atoi(p.Value)
				}
			}
			if t.Time, err = sweep.TrainedFor(ctx, db, st.Run.ID, st.Step, batch); err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
		}
		if st.Score != nil {
			t.Mean, t.Tasks = st.Score.Mean, st.Score.Tasks
			outcomes, err := db.EvaluationOutcomes(ctx, st.Score.EvaluationID)
			if err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
			t.outcomes, t.NoInterval = usableOutcomes(st.Score, outcomes, st.Run.ID)
			if rep.Best == nil || t.Mean > rep.Best.Mean {
				rep.Best = t
			}
		}
		rep.Trials = append(rep.Trials, t)
		c := configs[st.Config]
		if c == nil {
			c = &SweepConfig{N: st.Config, Value: t.Value}
			configs[st.Config] = c
			rep.Configs = append(rep.Configs, c)
		}
		c.Trials = append(c.Trials, t)
	}
	for _, c := range rep.Configs {
		var scores []float64
		for _, t := range c.Trials {
			if !math.IsNaN(t.Mean) {
				scores = append(scores, t.Mean)
			}
		}
		c.Scored = len(scores)
		c.Mean, c.SD = meanSD(scores)
		if c.Scored > 0 && (rep.BestConfig == nil || c.Mean > rep.BestConfig.Mean) {
			rep.BestConfig = c
		}
	}
	if rep.BestConfig != nil {
		rep.BestConfig.BestMarked = true
	}
	rep.addIntervals()
	if rep.Plots, err = sweepPlots(rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// addIntervals bootstraps the validation images once for every scored trial together: each
// trial's mean over tasks, and its difference to the best trial's, paired image by image (the
// trials share the validation suite, so every resample draws the same images for all).
func (rep *SweepReport) addIntervals() {
	var scored []*SweepTrial
	best := -1
	for _, t := range rep.Trials {
		if t.outcomes == nil {
			continue
		}
		if t == rep.Best {
			best = len(scored)
		}
		scored = append(scored, t)
	}
	if len(scored) == 0 {
		return
	}
	var summaries []*experiments.EvalSummary
	outs := make([]map[string]taskOutcomes, len(scored))
	keys := []string{"sweep"}
	for i, t := range scored {
		summaries = append(summaries, t.Score)
		outs[i] = t.outcomes
		keys = append(keys, outcomesKey(t.outcomes))
	}
	tasks := taskNames(summaries...)
	sets := make([][]int, len(scored))
	for i, t := range scored {
		sets[i] = newTaskSets(tasks, t.Score).all
	}
	s := newResampler(tasks, outs)
	k := len(scored)
	ivs := s.bootstrap(rep.Resamples, newRNG(rep.Seed, keys...), 2*k, func(_ *rand.Rand, acc [][]float64, out []float64) {
		for i := range scored {
			out[i] = meanOver(acc[i], sets[i])
		}
		for i := range scored {
			out[k+i] = math.NaN()
			if best >= 0 {
				out[k+i] = out[i] - out[best]
			}
		}
	})
	for i, t := range scored {
		t.CI = ivs[i]
		if best >= 0 {
			t.Delta, t.DeltaCI = t.Mean-rep.Best.Mean, ivs[k+i]
		}
	}
}
