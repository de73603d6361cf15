package report

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

// Options choose what a report compares and shows.
type Options struct {
	// Baseline is the full id of the run the others are compared with; "" means the first run.
	// A baseline not among the runs is added in front of them.
	Baseline string
	// Full shows every config key, not only those whose values differ.
	Full bool
	// TopTasks is how many of the largest per-task gains and losses are listed per run (0: 5).
	TopTasks int
	// Suite and Metric select the evaluation compared (default: newt accuracy).
	Suite, Metric string
	// Classifier selects the probe whose evaluations are compared (default: the NeWT
	// protocol's, experiments.HeadlineClassifier); evaluations recorded before natssl kept the
	// classifier count as any.
	Classifier string
	// Now stamps the report (default: time.Now).
	Now func() time.Time
	// Resamples is the number of bootstrap resamples of the test images behind every interval
	// of a mean (default DefaultResamples); Seed seeds them, so that the same runs give the same
	// intervals in every report.
	Resamples int
	Seed      uint64
	// Cost gives a run's encoder cost at its eval size, for the efficiency table: nil, or a
	// nil *Cost, shows none; an error is shown as the run's mark.
	Cost func(*experiments.RunRecord) (*Cost, error)
}

// Report is everything a comparison shows, computed once and rendered as Markdown or HTML.
type Report struct {
	Generated  time.Time
	DBPath     string
	Suite      string
	Metric     string
	Classifier string
	Runs       []*Run // the baseline first, then the others in the order given
	Config     ConfigTable
	Eval       *EvalComparison // nil when no run has an evaluation
	Plots      []Plot
}

// Run is one run's data in a report.
type Run struct {
	*experiments.RunRecord
	Label      string // the name, made unique with the short id where names repeat
	Baseline   bool
	Loss       []experiments.Point
	ImagesPerS []experiments.Point
	ImagesSeen int64 // -1 when unknown
	Training   TrainingSummary
	Batch      int64                    // data.batch_size: images per step; 0 when unknown
	LastEval   *experiments.EvalSummary // the last evaluated checkpoint; nil when not evaluated
	BestEval   *experiments.EvalSummary // the checkpoint with the best mean
	// Evaluations are the latest evaluation of each classifier on the suite, whichever is
	// compared.
	Evaluations []experiments.EvalSummary
	// NoOutcomes says why LastEval has no usable per-image outcomes, and so no intervals;
	// "" when it has them.
	NoOutcomes string
	outcomes   map[string]taskOutcomes // LastEval's outcomes by task
	Cost       *Cost                   // the encoder's, from Options.Cost; nil when unknown
	CostNote   string                  // why Cost is nil, when Options.Cost said

	// The online monitor's scores against step (eval.monitor_every); empty when not monitored.
	MonitorKNN, MonitorNeWT []experiments.Point
}

// Marks say what a reader must know before trusting a run's numbers.
func (r *Run) Marks() []string {
	var m []string
	switch {
	case r.Stale:
		m = append(m, "stale: RUNNING but silent since "+r.HeartbeatAt.UTC().Format("2006-01-02 15:04")+" UTC")
	case r.Status == experiments.StatusRunning:
		m = append(m, "still running")
	case r.Status == experiments.StatusFailed:
		msg := "failed"
		if r.Error != "" {
			msg += ": " + r.Error
		}
		m = append(m, msg)
	case r.Status == experiments.StatusKilled:
		m = append(m, "killed")
	}
	if r.LastEval == nil {
		m = append(m, "no evaluation")
	}
	return m
}

// TrainingSummary is the final and best of a run's training metrics.
type TrainingSummary struct {
	// LastStepLoss is the loss of the run's last step, as the console showed it; FinalLoss and
	// BestLoss are means over a logging window (the loss series). NaN when not logged.
	LastStepLoss                    float64
	FinalLoss, BestLoss             float64
	FinalLossStep, BestLossStep     int64
	FinalImagesPerS, MeanImagesPerS float64
	BestImagesPerS                  float64
}

// Build gathers runIDs (full ids, see experiments.DB.ResolveRun) from db into a report.
func Build(ctx context.Context, db *experiments.DB, runIDs []string, opt Options) (*Report, error) {
	if len(runIDs) == 0 && opt.Baseline == "" {
		return nil, fmt.Errorf("report: no runs to compare")
	}
	if opt.TopTasks <= 0 {
		opt.TopTasks = 5
	}
	if opt.Suite == "" {
		opt.Suite = experiments.SuiteNeWT
	}
	if opt.Metric == "" {
		opt.Metric = experiments.MetricAccuracy
	}
	if opt.Classifier == "" {
		opt.Classifier = experiments.HeadlineClassifier
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Resamples <= 0 {
		opt.Resamples = DefaultResamples
	}
	ids := orderRuns(runIDs, opt.Baseline)
	rep := &Report{Generated: opt.Now(), DBPath: db.Path(), Suite: opt.Suite, Metric: opt.Metric, Classifier: opt.Classifier}
	for i, id := range ids {
		r, err := loadRun(ctx, db, id, opt)
		if err != nil {
			return nil, err
		}
		r.Baseline = i == 0
		rep.Runs = append(rep.Runs, r)
	}
	labelRuns(rep.Runs)
	rep.Config = configTable(rep.Runs, opt.Full)
	rep.Eval = compareEvals(rep.Runs, opt.TopTasks)
	if rep.Eval != nil {
		addStatistics(rep.Eval, rep.Runs, opt)
	}
	plots, err := drawPlots(rep)
	if err != nil {
		return nil, err
	}
	rep.Plots = plots
	return rep, nil
}

// orderRuns puts the baseline first and drops repeated ids.
func orderRuns(ids []string, baseline string) []string {
	seen := map[string]bool{}
	var out []string
	if baseline != "" {
		out, seen[baseline] = append(out, baseline), true
	}
	for _, id := range ids {
		if !seen[id] {
			out, seen[id] = append(out, id), true
		}
	}
	return out
}

func loadRun(ctx context.Context, db *experiments.DB, id string, opt Options) (*Run, error) {
	rec, err := db.GetRun(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	r := &Run{RunRecord: rec, ImagesSeen: -1}
	if r.Loss, err = db.MetricSeries(ctx, id, metric.Loss); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if r.ImagesPerS, err = db.MetricSeries(ctx, id, metric.ImagesPerS); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if r.MonitorKNN, err = db.MetricSeries(ctx, id, metric.MonitorKNN); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if r.MonitorNeWT, err = db.MetricSeries(ctx, id, metric.MonitorNeWT); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	r.Training = summarizeTraining(r.Loss, r.ImagesPerS)
	if m, ok := rec.Latest[metric.LossLast]; ok {
		r.Training.LastStepLoss = m.Value
	}
	r.Batch = batchSize(rec)
	r.ImagesSeen = imagesSeen(rec, r.Batch)
	sums := experiments.Summarize(rec.Evals, opt.Suite, opt.Metric)
	r.Evaluations = experiments.LatestPerClassifier(sums)
	r.LastEval, r.BestEval = experiments.LastAndBest(experiments.ForClassifier(sums, opt.Classifier))
	runCost(r, opt)
	if r.LastEval != nil {
		outcomes, err := db.EvaluationOutcomes(ctx, r.LastEval.EvaluationID)
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		r.outcomes, r.NoOutcomes = usableOutcomes(r.LastEval, outcomes, id)
	}
	return r, nil
}

// usableOutcomes groups an evaluation's per-image outcomes by task when they are the evidence
// behind every task's value: each task has outcomes, and their share of right answers is the
// value recorded. Otherwise it returns why not, and the report states no interval for the run
// rather than one about other numbers.
func usableOutcomes(s *experiments.EvalSummary, outcomes []experiments.Outcome, runID string) (map[string]taskOutcomes, string) {
	if s.Metric != experiments.MetricAccuracy {
		return nil, "intervals are computed for accuracy only"
	}
	if len(outcomes) == 0 {
		return nil, "evaluated without per-image outcomes (before natssl recorded them), so without intervals " +
			"(natssl eval --run " + shortID(runID) + " records them)"
	}
	byTask := map[string]taskOutcomes{}
	for _, o := range outcomes { // ordered by task, then image id
		t := byTask[o.Task]
		t.images = append(t.images, o.Image)
		t.correct = append(t.correct, o.Correct())
		byTask[o.Task] = t
	}
	tasks := make([]string, 0, len(s.PerTask))
	for task := range s.PerTask {
		tasks = append(tasks, task)
	}
	sort.Strings(tasks)
	for _, task := range tasks {
		t, ok := byTask[task]
		if !ok {
			return nil, fmt.Sprintf("task %s has no per-image outcomes: no intervals", task)
		}
		if acc := float64(t.right()) / float64(len(t.correct)); !(math.Abs(acc-s.PerTask[task]) <= 1e-9) {
			return nil, fmt.Sprintf("the outcomes of task %s give %.4f, not the recorded %.4f: no intervals", task, acc, s.PerTask[task])
		}
	}
	return byTask, ""
}

// imagesSeen is steps × the global batch size, -1 when either is unknown.
func imagesSeen(rec *experiments.RunRecord, batch int64) int64 {
	if batch > 0 && rec.Steps > 0 {
		return batch * rec.Steps
	}
	return -1
}

// batchSize is the run's data.batch_size; 0 when it was not recorded.
func batchSize(rec *experiments.RunRecord) int64 {
	for _, p := range rec.Params {
		if p.Key == "data.batch_size" {
			if b, err := strconv.ParseInt(p.Value, 10, 64); err == nil && b > 0 {
				return b
			}
		}
	}
	return 0
}

func summarizeTraining(loss, ips []experiments.Point) TrainingSummary {
	s := TrainingSummary{LastStepLoss: math.NaN(), FinalLoss: math.NaN(), BestLoss: math.NaN(), FinalImagesPerS: math.NaN(),
		MeanImagesPerS: math.NaN(), BestImagesPerS: math.NaN()}
	if n := len(loss); n > 0 {
		s.FinalLoss, s.FinalLossStep = loss[n-1].Value, loss[n-1].Step
		for _, p := range loss {
			if !math.IsNaN(p.Value) && (math.IsNaN(s.BestLoss) || p.Value < s.BestLoss) {
				s.BestLoss, s.BestLossStep = p.Value, p.Step
			}
		}
	}
	if n := len(ips); n > 0 {
		s.FinalImagesPerS = ips[n-1].Value
		var sum float64
		var k int
		for _, p := range ips {
			if math.IsNaN(p.Value) {
				continue
			}
			sum += p.Value
			k++
			if math.IsNaN(s.BestImagesPerS) || p.Value > s.BestImagesPerS {
				s.BestImagesPerS = p.Value
			}
		}
		if k > 0 {
			s.MeanImagesPerS = sum / float64(k)
		}
	}
	return s
}

// labelRuns names each run for tables and legends: its name, or its short id when it has none,
// with the short id added where two runs share a name.
func labelRuns(runs []*Run) {
	count := map[string]int{}
	for _, r := range runs {
		count[r.Name]++
	}
	for _, r := range runs {
		switch {
		case r.Name == "":
			r.Label = shortID(r.ID)
		case count[r.Name] > 1:
			r.Label = r.Name + "@" + shortID(r.ID)
		default:
			r.Label = r.Name
		}
	}
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
