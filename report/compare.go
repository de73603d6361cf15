package report

import (
	"math"
	"sort"

	"github.com/natssl/natssl/experiments"
)

// ConfigTable is the config keys shown, with each run's value (one column per run).
type ConfigTable struct {
	Keys      []string
	Values    [][]string // Values[i][j]: key i, run j; "" when the run has no such key
	Missing   [][]bool   // Missing[i][j]: run j did not record key i
	Full      bool       // every key shown, not only those that differ
	TotalKeys int        // keys recorded by any run
}

// configTable lists the params whose values differ between runs (all of them when full). A key
// one run lacks differs.
func configTable(runs []*Run, full bool) ConfigTable {
	values := make([]map[string]string, len(runs))
	keys := map[string]bool{}
	for j, r := range runs {
		values[j] = map[string]string{}
		for _, p := range r.Params {
			values[j][p.Key] = p.Value
			keys[p.Key] = true
		}
	}
	t := ConfigTable{Full: full, TotalKeys: len(keys)}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		row := make([]string, len(runs))
		miss := make([]bool, len(runs))
		differ := false
		for j := range runs {
			v, ok := values[j][k]
			row[j], miss[j] = v, !ok
			if j > 0 && (v != row[0] || miss[j] != miss[0]) {
				differ = true
			}
		}
		if full || differ {
			t.Keys = append(t.Keys, k)
			t.Values = append(t.Values, row)
			t.Missing = append(t.Missing, miss)
		}
	}
	return t
}

// EvalComparison is the evaluation of every run against the baseline's, each at its last
// evaluated checkpoint.
type EvalComparison struct {
	Overall     []Cell     // per run
	Clusters    []GroupRow // per cluster, sorted by name
	Subclusters []GroupRow // per cluster/subcluster, sorted
	Gains       []TaskDelta
	Losses      []TaskDelta
	// Paired compares each evaluated run after the baseline with it.
	Paired []Comparison
	// Tasks are every task's accuracy per run, with Wilson intervals.
	Tasks []TaskRow
	// Groups are the runs whose configs differ only in seed (groups of one included);
	// GroupComparisons compare each group with the baseline's when a group has several runs.
	Groups           []SeedGroup
	GroupComparisons []Comparison
	// Resamples and Seed are those of every bootstrap interval.
	Resamples int
	Seed      uint64
}

// Cell is one run's mean over some tasks, and its difference to the baseline's.
type Cell struct {
	Has   bool    // the run was evaluated on these tasks
	Mean  float64 //
	Delta float64 // Mean minus the baseline's; NaN when the baseline has no value
	Tasks int
	// Won, Lost and Tied count the tasks (shared with the baseline) on which the run scored
	// higher, lower or the same; only in Overall.
	Won, Lost, Tied int
	// CI is the 95% bootstrap interval of Mean over test images; DeltaCI that of Delta, paired
	// image by image where the runs share test images. Missing without per-image outcomes.
	CI, DeltaCI Interval
	// P is the sign test of Won against Lost; only in Overall, NaN for the baseline.
	P float64
}

// GroupRow is one cluster's (or subcluster's) cells, one per run.
type GroupRow struct {
	Cluster, Subcluster string
	Cells               []Cell
}

// TaskDelta is one task where a run differs from the baseline.
type TaskDelta struct {
	Run                  string // the run's label
	Task, Cluster        string
	Baseline, Value, Gap float64 // Gap = Value − Baseline
}

func compareEvals(runs []*Run, top int) *EvalComparison {
	evaluated := false
	for _, r := range runs {
		evaluated = evaluated || r.LastEval != nil
	}
	if !evaluated {
		return nil
	}
	base := runs[0].LastEval
	c := &EvalComparison{}
	for _, r := range runs {
		cell := Cell{Delta: math.NaN()}
		if s := r.LastEval; s != nil {
			cell.Has, cell.Mean, cell.Tasks = true, s.Mean, s.Tasks
			if base != nil {
				cell.Delta = s.Mean - base.Mean
				cell.Won, cell.Lost, cell.Tied = wonLost(base.PerTask, s.PerTask)
			}
		}
		c.Overall = append(c.Overall, cell)
	}
	c.Clusters = groupRows(runs, func(s *experiments.EvalSummary) []experiments.GroupMean { return s.Clusters })
	c.Subclusters = groupRows(runs, func(s *experiments.EvalSummary) []experiments.GroupMean { return s.Subclusters })
	if base != nil {
		for _, r := range runs[1:] {
			if r.LastEval == nil {
				continue
			}
			var deltas []TaskDelta
			for task, v := range r.LastEval.PerTask {
				b, ok := base.PerTask[task]
				if !ok || math.IsNaN(v-b) || v == b {
					continue
				}
				deltas = append(deltas, TaskDelta{Run: r.Label, Task: task, Cluster: r.LastEval.TaskCluster[task], Baseline: b, Value: v, Gap: v - b})
			}
			sort.Slice(deltas, func(i, j int) bool {
				if deltas[i].Gap != deltas[j].Gap {
					return deltas[i].Gap > deltas[j].Gap
				}
				return deltas[i].Task < deltas[j].Task
			})
			for i := 0; i < len(deltas) && i < top && deltas[i].Gap > 0; i++ {
				c.Gains = append(c.Gains, deltas[i])
			}
			for i := len(deltas) - 1; i >= 0 && len(deltas)-1-i < top && deltas[i].Gap < 0; i-- {
				c.Losses = append(c.Losses, deltas[i])
			}
		}
	}
	return c
}

// groupRows builds one row per cluster (or subcluster) that any run was evaluated on.
func groupRows(runs []*Run, groups func(*experiments.EvalSummary) []experiments.GroupMean) []GroupRow {
	type key struct{ c, s string }
	var keys []key
	byRun := make([]map[key]experiments.GroupMean, len(runs))
	seen := map[key]bool{}
	for j, r := range runs {
		byRun[j] = map[key]experiments.GroupMean{}
		if r.LastEval == nil {
			continue
		}
		for _, g := range groups(r.LastEval) {
			k := key{g.Cluster, g.Subcluster}
			byRun[j][k] = g
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].c < keys[j].c || keys[i].c == keys[j].c && keys[i].s < keys[j].s
	})
	rows := make([]GroupRow, len(keys))
	for i, k := range keys {
		rows[i] = GroupRow{Cluster: k.c, Subcluster: k.s, Cells: make([]Cell, len(runs))}
		b, baseOK := byRun[0][k]
		for j := range runs {
			cell := Cell{Delta: math.NaN()}
			if g, ok := byRun[j][k]; ok {
				cell.Has, cell.Mean, cell.Tasks = true, g.Mean, g.Tasks
				if baseOK {
					cell.Delta = g.Mean - b.Mean
				}
			}
			rows[i].Cells[j] = cell
		}
	}
	return rows
}
