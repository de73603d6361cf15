package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/natssl/natssl/experiments"
)

// Comparison is B against A, two runs or two seed groups: the difference of their means over
// tasks with its interval, the tasks B won, lost and tied, and the sign test over tasks.
type Comparison struct {
	A, B            string  // labels
	Delta           float64 // B's mean minus A's
	CI              Interval
	Won, Lost, Tied int
	P               float64 // two-sided sign test over the tasks that differ
	// Unpaired counts the tasks whose test images differ between the two evaluations: those
	// are resampled apart instead of image by image.
	Unpaired int
	// NoInterval says why CI is missing.
	NoInterval string
}

// Sentence states the comparison for people: "B beats A by +4.4 points [+2.9, +5.8]; 10 of
// 10 tasks; p = 0.002". A difference whose interval holds zero is "within noise".
func (c Comparison) Sentence() string {
	pts := 100 * c.Delta
	var s string
	switch {
	case !c.CI.OK:
		s = fmt.Sprintf("%s differs from %s by %s points (no interval: %s)", c.B, c.A, signed(pts), c.NoInterval)
	case c.CI.Lo > 0:
		s = fmt.Sprintf("%s beats %s by %s points %s", c.B, c.A, signed(pts), pointsInterval(c.CI))
	case c.CI.Hi < 0:
		s = fmt.Sprintf("%s trails %s by %s points %s", c.B, c.A, signed(pts), pointsInterval(c.CI))
	default:
		s = fmt.Sprintf("%s differs from %s by %s points %s, within noise", c.B, c.A, signed(pts), pointsInterval(c.CI))
	}
	s += fmt.Sprintf("; %d of %d tasks", c.Won, c.Won+c.Lost+c.Tied)
	if c.Tied > 0 {
		s += fmt.Sprintf(" (%d tied)", c.Tied)
	}
	return s + "; " + formatP(c.P)
}

func signed(v float64) string { return fmt.Sprintf("%+.1f", v) }

// pointsInterval formats an interval of accuracy differences in percentage points.
func pointsInterval(iv Interval) string {
	return fmt.Sprintf("[%s, %s]", signed(100*iv.Lo), signed(100*iv.Hi))
}

// formatP writes a p-value for a sentence: "p = 0.002", "p < 0.001".
func formatP(p float64) string {
	v := pValue(p)
	if strings.HasPrefix(v, "<") {
		return "p " + v
	}
	return "p = " + v
}

// pValue writes a p-value with two significant digits, "< 0.001" below that, "–" for none.
func pValue(p float64) string {
	switch {
	case math.IsNaN(p):
		return "–"
	case p < 0.001:
		return "< 0.001"
	}
	return fmt.Sprintf("%.2g", p)
}

// taskSets are the tasks of one evaluation as indices into a list of task names: all of them,
// and those of each cluster and subcluster.
type taskSets struct {
	all      []int
	clusters map[string][]int
	subs     map[[2]string][]int
}

func newTaskSets(tasks []string, s *experiments.EvalSummary) taskSets {
	ts := taskSets{clusters: map[string][]int{}, subs: map[[2]string][]int{}}
	for i, task := range tasks {
		if _, ok := s.PerTask[task]; !ok {
			continue
		}
		c := s.TaskCluster[task]
		ts.all = append(ts.all, i)
		ts.clusters[c] = append(ts.clusters[c], i)
		k := [2]string{c, s.TaskSubcluster[task]}
		ts.subs[k] = append(ts.subs[k], i)
	}
	return ts
}

// taskNames are the tasks of the summaries, sorted.
func taskNames(summaries ...*experiments.EvalSummary) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range summaries {
		for task := range s.PerTask {
			if !seen[task] {
				seen[task] = true
				out = append(out, task)
			}
		}
	}
	sort.Strings(out)
	return out
}

// groupKeys are the statistics a report gives an interval for: the mean over all tasks ("",
// ""), each cluster's (cluster, "") and each subcluster's (cluster, subcluster), as indices
// into the vector a bootstrap statistic fills.
type groupKeys struct {
	clusters []string
	subs     [][2]string
}

func (g groupKeys) size() int { return 1 + len(g.clusters) + len(g.subs) }

// means fills out with the mean of acc over sets: all tasks, then each cluster, then each
// subcluster (NaN where sets lack one).
func (g groupKeys) means(acc []float64, sets taskSets, out []float64) {
	out[0] = meanOver(acc, sets.all)
	for i, c := range g.clusters {
		out[1+i] = meanOver(acc, sets.clusters[c])
	}
	for i, k := range g.subs {
		out[1+len(g.clusters)+i] = meanOver(acc, sets.subs[k])
	}
}

func (c *EvalComparison) groupKeys() groupKeys {
	var g groupKeys
	for _, row := range c.Clusters {
		g.clusters = append(g.clusters, row.Cluster)
	}
	for _, row := range c.Subclusters {
		g.subs = append(g.subs, [2]string{row.Cluster, row.Subcluster})
	}
	return g
}

// setIntervals stores ivs (in groupKeys order) into run j's cells: CI, or DeltaCI when delta.
func (c *EvalComparison) setIntervals(j int, ivs []Interval, delta bool) {
	put := func(cell *Cell, iv Interval) {
		if !cell.Has {
			return
		}
		if delta {
			cell.DeltaCI = iv
		} else {
			cell.CI = iv
		}
	}
	put(&c.Overall[j], ivs[0])
	for i := range c.Clusters {
		put(&c.Clusters[i].Cells[j], ivs[1+i])
	}
	for i := range c.Subclusters {
		put(&c.Subclusters[i].Cells[j], ivs[1+len(c.Clusters)+i])
	}
}

// addStatistics fills in the intervals of every run's means, the paired comparison of each
// run with the baseline, the per-task Wilson intervals, and the seed groups. The bootstraps are
// independent, each with its own seeded source, so they run in parallel with the same results.
func addStatistics(c *EvalComparison, runs []*Run, opt Options) {
	c.Resamples, c.Seed = opt.Resamples, opt.Seed
	keys := c.groupKeys()
	means := make([][]Interval, len(runs))
	var jobs []func()
	for j, r := range runs {
		c.Overall[j].P = math.NaN()
		if r.LastEval == nil || r.outcomes == nil {
			continue
		}
		jobs = append(jobs, func() {
			tasks := taskNames(r.LastEval)
			sets := newTaskSets(tasks, r.LastEval)
			s := newResampler(tasks, []map[string]taskOutcomes{r.outcomes})
			means[j] = s.bootstrap(opt.Resamples, newRNG(opt.Seed, "mean", outcomesKey(r.outcomes)), keys.size(), func(_ *rand.Rand, acc [][]float64, out []float64) {
				keys.means(acc[0], sets, out)
			})
		})
	}
	base := runs[0]
	var paired []int // the runs compared with the baseline
	for j, r := range runs {
		if j > 0 && base.LastEval != nil && r.LastEval != nil {
			paired = append(paired, j)
		}
	}
	cmps := make([]Comparison, len(paired))
	deltas := make([][]Interval, len(paired))
	for i, j := range paired {
		jobs = append(jobs, func() { cmps[i], deltas[i] = compareRuns(base, runs[j], keys, opt) })
	}
	var groupCmps []Comparison
	c.Groups, groupCmps, jobs = seedGroups(runs, keys.clusters, opt, jobs)
	parallel(jobs)
	for j, ivs := range means {
		if ivs != nil {
			c.setIntervals(j, ivs, false)
		}
	}
	for i, j := range paired {
		c.Overall[j].P = cmps[i].P
		if deltas[i] != nil {
			c.setIntervals(j, deltas[i], true)
		}
	}
	c.Paired, c.GroupComparisons = cmps, groupCmps
	c.Tasks = taskRows(runs)
}

// parallel runs jobs on GOMAXPROCS goroutines and waits for them.
func parallel(jobs []func()) {
	next := make(chan func())
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range next {
				job()
			}
		}()
	}
	for _, job := range jobs {
		next <- job
	}
	close(next)
	wg.Wait()
}

// compareRuns compares run b with run a: the difference of their means (each over its own
// tasks, as the tables show them) with the paired bootstrap's intervals for the mean and every
// cluster and subcluster (nil when either run lacks outcomes), and the sign test over the tasks
// both have.
func compareRuns(a, b *Run, keys groupKeys, opt Options) (Comparison, []Interval) {
	cmp := Comparison{A: a.Label, B: b.Label, Delta: b.LastEval.Mean - a.LastEval.Mean}
	cmp.Won, cmp.Lost, cmp.Tied = wonLost(a.LastEval.PerTask, b.LastEval.PerTask)
	cmp.P = signTest(cmp.Won, cmp.Lost)
	switch {
	case a.outcomes == nil:
		cmp.NoInterval = a.Label + " has no per-image outcomes"
		return cmp, nil
	case b.outcomes == nil:
		cmp.NoInterval = b.Label + " has no per-image outcomes"
		return cmp, nil
	}
	tasks := taskNames(a.LastEval, b.LastEval)
	sa, sb := newTaskSets(tasks, a.LastEval), newTaskSets(tasks, b.LastEval)
	s := newResampler(tasks, []map[string]taskOutcomes{a.outcomes, b.outcomes})
	cmp.Unpaired = s.unpaired
	ma, mb := make([]float64, keys.size()), make([]float64, keys.size())
	ivs := s.bootstrap(opt.Resamples, newRNG(opt.Seed, "pair", outcomesKey(a.outcomes), outcomesKey(b.outcomes)), keys.size(), func(_ *rand.Rand, acc [][]float64, out []float64) {
		keys.means(acc[0], sa, ma)
		keys.means(acc[1], sb, mb)
		for i := range out {
			out[i] = mb[i] - ma[i]
		}
	})
	cmp.CI = ivs[0]
	return cmp, ivs
}

// wonLost counts the tasks both evaluations have on which b scored higher, lower or the same.
func wonLost(a, b map[string]float64) (won, lost, tied int) {
	for task, v := range b {
		w, ok := a[task]
		switch {
		case !ok || math.IsNaN(v) || math.IsNaN(w):
		case v > w:
			won++
		case v < w:
			lost++
		default:
			tied++
		}
	}
	return won, lost, tied
}

// TaskRow is one task's accuracy in every run, with its Wilson interval.
type TaskRow struct {
	Task, Cluster, Subcluster string
	Cells                     []TaskCell
}

// TaskCell is one run's result on one task; Right and N are 0 and CI missing without outcomes.
type TaskCell struct {
	Has      bool
	Value    float64
	Right, N int
	CI       Interval
}

// taskRows lists every task any run was evaluated on, by cluster, subcluster and name.
func taskRows(runs []*Run) []TaskRow {
	var summaries []*experiments.EvalSummary
	for _, r := range runs {
		if r.LastEval != nil {
			summaries = append(summaries, r.LastEval)
		}
	}
	var rows []TaskRow
	for _, task := range taskNames(summaries...) {
		row := TaskRow{Task: task, Cells: make([]TaskCell, len(runs))}
		for j, r := range runs {
			if r.LastEval == nil {
				continue
			}
			v, ok := r.LastEval.PerTask[task]
			if !ok {
				continue
			}
			if row.Cluster == "" && row.Subcluster == "" {
				row.Cluster, row.Subcluster = r.LastEval.TaskCluster[task], r.LastEval.TaskSubcluster[task]
			}
			cell := TaskCell{Has: true, Value: v}
			if o, ok := r.outcomes[task]; ok {
				cell.Right, cell.N = o.right(), len(o.correct)
				cell.CI = wilson(cell.Right, cell.N)
			}
			row.Cells[j] = cell
		}
		rows = append(rows, row)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Cluster != b.Cluster {
			return a.Cluster < b.Cluster
		}
		return a.Subcluster < b.Subcluster
	})
	return rows
}
