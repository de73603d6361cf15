package report

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
)

// seedKeys are the config keys that name a run and say where it writes, without changing what
// it learns: runs that differ only in these are the same recipe from other random starts.
var seedKeys = map[string]bool{"run.seed": true, "run.name": true, "run.out_dir": true, "run.db": true}

// SeedGroup is evaluated runs whose configs differ only in run.seed (and the run's name and
// output places), and that are the same kind of run (trained, random-init, ...): one recipe
// trained from several random starts. Runs without an evaluation are in no group.
type SeedGroup struct {
	Label string
	Runs  []int // positions in Report.Runs
	Seeds []int64
	// Mean and SD are the mean and standard deviation over the runs of their means over tasks
	// (SD NaN for a single run); ClusterMean and ClusterSD the same per cluster, in
	// EvalComparison.Clusters order.
	Mean, SD               float64
	ClusterMean, ClusterSD []float64
	// Steps are the checkpoint steps of the evaluations when they differ, else nil.
	Steps []int64
}

// seedsText says "1 seed" or "N seeds".
func (g SeedGroup) seedsText() string {
	if len(g.Runs) == 1 {
		return "1 seed"
	}
	return plural(len(g.Runs), "seed")
}

// groupKey is what runs of one group share: their kind and every other config value.
func groupKey(r *Run) string {
	if len(r.Params) == 0 {
		return "\x00" + r.ID // nothing recorded to compare: a group of its own
	}
	var b strings.Builder
	b.WriteString(r.Tags["kind"])
	for _, p := range r.Params { // sorted by key
		if !seedKeys[p.Key] {
			fmt.Fprintf(&b, "\x00%s=%s", p.Key, p.Value)
		}
	}
	return b.String()
}

// seedGroups partitions the evaluated runs into seed groups (in order of first appearance)
// and, when some group holds more than one run, compares each other group with the first, which
// holds the baseline when it was evaluated. The comparisons are filled in by jobs it appends to
// jobs, for the caller to run.
func seedGroups(runs []*Run, clusters []string, opt Options, jobs []func()) ([]SeedGroup, []Comparison, []func()) {
	var groups []SeedGroup
	byKey := map[string]int{}
	for j, r := range runs {
		if r.LastEval == nil {
			continue
		}
		k := groupKey(r)
		i, ok := byKey[k]
		if !ok {
			i = len(groups)
			byKey[k] = i
			groups = append(groups, SeedGroup{})
		}
		g := &groups[i]
		g.Runs = append(g.Runs, j)
		g.Seeds = append(g.Seeds, r.Seed)
	}
	several := false
	labels := map[string]int{}
	for i := range groups {
		g := &groups[i]
		g.Label = groupLabel(runs, g.Runs)
		if labels[g.Label]++; labels[g.Label] > 1 {
			g.Label += fmt.Sprintf(" (group %d)", i+1)
		}
		g.summarize(runs, clusters)
		several = several || len(g.Runs) > 1
	}
	if !several {
		return groups, nil, jobs
	}
	cmps := make([]Comparison, len(groups)-1)
	for i, g := range groups[1:] {
		jobs = append(jobs, func() { cmps[i] = compareGroups(runs, groups[0], g, opt) })
	}
	return groups, cmps, jobs
}

func (g *SeedGroup) summarize(runs []*Run, clusters []string) {
	var means []float64
	steps := map[int64]bool{}
	for _, j := range g.Runs {
		means = append(means, runs[j].LastEval.Mean)
		steps[runs[j].LastEval.CheckpointStep] = true
	}
	g.Mean, g.SD = meanSD(means)
	for _, c := range clusters {
		var vs []float64
		for _, j := range g.Runs {
			for _, cm := range runs[j].LastEval.Clusters {
				if cm.Cluster == c {
					vs = append(vs, cm.Mean)
				}
			}
		}
		m, sd := meanSD(vs)
		g.ClusterMean, g.ClusterSD = append(g.ClusterMean, m), append(g.ClusterSD, sd)
	}
	if len(steps) > 1 {
		for s := range steps {
			g.Steps = append(g.Steps, s)
		}
		sort.Slice(g.Steps, func(a, b int) bool { return g.Steps[a] < g.Steps[b] })
	}
}

// groupLabel names a group: its run's label alone; else the name its runs share, or the
// whole words their names begin with ("base" for base-s1 and base-s2); else the labels joined.
func groupLabel(runs []*Run, idx []int) string {
	if len(idx) == 1 {
		return runs[idx[0]].Label
	}
	prefix := runs[idx[0]].Name
	midWord := false
	for _, j := range idx[1:] {
		n := runs[j].Name
		k := 0
		for k < len(prefix) && k < len(n) && prefix[k] == n[k] {
			k++
		}
		prefix = prefix[:k]
	}
	for _, j := range idx {
		n := runs[j].Name
		if len(n) > len(prefix) && len(prefix) > 0 && isWordByte(n[len(prefix)]) && isWordByte(prefix[len(prefix)-1]) {
			midWord = true
		}
	}
	if midWord {
		prefix = prefix[:strings.LastIndexFunc(prefix, func(r rune) bool { return r < 128 && !isWordByte(byte(r)) })+1]
	}
	if p := strings.TrimRight(prefix, "-_.@ "); len(p) >= 2 {
		return p
	}
	var labels []string
	for _, j := range idx {
		labels = append(labels, runs[j].Label)
	}
	return strings.Join(labels, " + ")
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// compareGroups compares group b with group a: the difference of the groups' means, tasks won
// on the per-task means over each group's runs, the sign test over tasks, and an interval from
// a bootstrap at two levels, seeds and test images: each resample draws each group's runs with
// replacement and, within every task, the test images (shared by all runs evaluated on the
// same images). With m seeds that keeps (m−1)/m of the seed-to-seed variance, so with few seeds
// the interval is on the narrow side; the report says so.
func compareGroups(runs []*Run, a, b SeedGroup, opt Options) Comparison {
	cmp := Comparison{A: a.Label + " (" + a.seedsText() + ")", B: b.Label + " (" + b.seedsText() + ")", Delta: b.Mean - a.Mean}
	cmp.Won, cmp.Lost, cmp.Tied = wonLost(perTaskMean(runs, a.Runs), perTaskMean(runs, b.Runs))
	cmp.P = signTest(cmp.Won, cmp.Lost)
	members := append(append([]int(nil), a.Runs...), b.Runs...)
	var outcomes []map[string]taskOutcomes
	var keys []string
	for _, j := range members {
		if runs[j].outcomes == nil {
			cmp.NoInterval = runs[j].Label + " has no per-image outcomes"
			return cmp
		}
		outcomes = append(outcomes, runs[j].outcomes)
		keys = append(keys, outcomesKey(runs[j].outcomes))
	}
	var tasks []string
	seen := map[string]bool{}
	for _, j := range members {
		for _, t := range taskNames(runs[j].LastEval) {
			if !seen[t] {
				seen[t] = true
				tasks = append(tasks, t)
			}
		}
	}
	sort.Strings(tasks)
	sets := make([]taskSets, len(members))
	for k, j := range members {
		sets[k] = newTaskSets(tasks, runs[j].LastEval)
	}
	s := newResampler(tasks, outcomes)
	cmp.Unpaired = s.unpaired
	na, nb := len(a.Runs), len(b.Runs)
	groupMean := func(rng *rand.Rand, acc [][]float64, first, n int) float64 {
		var sum float64
		for range n {
			k := first + rng.IntN(n)
			sum += meanOver(acc[k], sets[k].all)
		}
		return sum / float64(n)
	}
	ivs := s.bootstrap(opt.Resamples, newRNG(opt.Seed, append([]string{"groups"}, keys...)...), 1,
		func(rng *rand.Rand, acc [][]float64, out []float64) {
			out[0] = groupMean(rng, acc, na, nb) - groupMean(rng, acc, 0, na)
		})
	cmp.CI = ivs[0]
	return cmp
}

// perTaskMean is each task's mean over the runs at idx that have it.
func perTaskMean(runs []*Run, idx []int) map[string]float64 {
	sum, n := map[string]float64{}, map[string]float64{}
	for _, j := range idx {
		for task, v := range runs[j].LastEval.PerTask {
			sum[task] += v
			n[task]++
		}
	}
	out := make(map[string]float64, len(sum))
	for task, s := range sum {
		out[task] = s / n[task]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
