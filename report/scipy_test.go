package report

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// statsReference is testdata/stats_reference.json, written by testdata/stats_reference.py
// with Debian's python3-scipy.
type statsReference struct {
	SciPy  string `json:"scipy"`
	Wilson []struct {
		K, N   int
		Lo, Hi float64
	} `json:"wilson"`
	Sign []struct {
		Won, Lost int
		P         float64
	} `json:"sign"`
	Tasks []struct {
		Name, Cluster string
		A, B          []int
	} `json:"tasks"`
	Bootstrap struct {
		NResamples   int                      `json:"n_resamples"`
		MeanA        scipyInterval            `json:"mean_a"`
		ClusterA     map[string]scipyInterval `json:"cluster_a"`
		PairedDiff   scipyInterval            `json:"paired_diff"`
		UnpairedDiff scipyInterval            `json:"unpaired_diff"`
	} `json:"bootstrap"`
	Seeds struct {
		Values   []float64
		Mean, SD float64
	} `json:"seeds"`
}

type scipyInterval struct{ Lo, Hi, SE float64 }

func loadStatsReference(t *testing.T) *statsReference {
	t.Helper()
	b, err := os.ReadFile("testdata/stats_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref statsReference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return &ref
}

// TestWilsonAndSignTestMatchSciPy compares the deterministic statistics with SciPy's to the
// last digits: the Wilson interval (same formula, same normal quantile) and the sign test's
// p-value (computed exactly here, in floating point by SciPy).
func TestWilsonAndSignTestMatchSciPy(t *testing.T) {
	ref := loadStatsReference(t)
	for _, w := range ref.Wilson {
		t.Run(fmt.Sprintf("wilson %d of %d", w.K, w.N), func(t *testing.T) {
			got := wilson(w.K, w.N)
			if !got.OK || math.Abs(got.Lo-w.Lo) > 1e-14 || math.Abs(got.Hi-w.Hi) > 1e-14 {
				t.Errorf("wilson(%d, %d) = %+v, SciPy %s says [%v, %v]", w.K, w.N, got, ref.SciPy, w.Lo, w.Hi)
			}
		})
	}
	for _, s := range ref.Sign {
		t.Run(fmt.Sprintf("sign test %d won %d lost", s.Won, s.Lost), func(t *testing.T) {
			if got := signTest(s.Won, s.Lost); math.Abs(got-s.P) > 1e-12*s.P {
				t.Errorf("signTest(%d, %d) = %v, SciPy binomtest says %v", s.Won, s.Lost, got, s.P)
			}
		})
	}
	mean, sd := meanSD(ref.Seeds.Values)
	if math.Abs(mean-ref.Seeds.Mean) > 1e-15 || math.Abs(sd-ref.Seeds.SD) > 1e-15 {
		t.Errorf("meanSD(%v) = %v ± %v, numpy says %v ± %v", ref.Seeds.Values, mean, sd, ref.Seeds.Mean, ref.Seeds.SD)
	}
}

// TestBootstrapMatchesSciPy draws as many resamples as SciPy did and compares the percentile
// intervals and standard errors. The two use different random numbers, so they agree only to
// Monte Carlo precision: an endpoint of a percentile interval over B resamples has a standard
// error of about sqrt(α(1−α)/B)/φ(z_α) bootstrap standard errors (0.0085 for B = 100,000), and
// a standard error a relative one of 1/sqrt(2B); the bar is five times that, for the difference
// of two such estimates. Resampling all images of a task together, or A and B apart where they
// share images, moves the numbers by far more (the unpaired interval is twice as wide).
func TestBootstrapMatchesSciPy(t *testing.T) {
	ref := loadStatsReference(t)
	b := ref.Bootstrap.NResamples
	var tasks []string
	a, paired, apart := map[string]taskOutcomes{}, map[string]taskOutcomes{}, map[string]taskOutcomes{}
	clusters := map[string][]int{}
	for i, task := range ref.Tasks {
		tasks = append(tasks, task.Name)
		clusters[task.Cluster] = append(clusters[task.Cluster], i)
		var ids, otherIDs []string
		for j := range task.A {
			ids = append(ids, fmt.Sprintf("%s-%03d", task.Name, j))
			otherIDs = append(otherIDs, fmt.Sprintf("%s-b%03d", task.Name, j))
		}
		a[task.Name] = taskOutcomes{images: ids, correct: bools(task.A)}
		paired[task.Name] = taskOutcomes{images: ids, correct: bools(task.B)}
		apart[task.Name] = taskOutcomes{images: otherIDs, correct: bools(task.B)}
	}
	all := make([]int, len(tasks))
	for i := range all {
		all[i] = i
	}
	alpha := (1 - confidence) / 2
	phi := math.Exp(-z95*z95/2) / math.Sqrt(2*math.Pi)
	endpointTol := 5 * math.Sqrt2 * math.Sqrt(alpha*(1-alpha)/float64(b)) / phi // in standard errors
	seTol := 5 * math.Sqrt2 / math.Sqrt(2*float64(b))                           // relative
	check := func(name string, dist []float64, want scipyInterval) {
		t.Helper()
		got := percentileInterval(dist)
		_, se := meanSD(dist)
		t.Logf("%-14s [%.5f, %.5f] se %.5f; SciPy [%.5f, %.5f] se %.5f", name, got.Lo, got.Hi, se, want.Lo, want.Hi, want.SE)
		if math.Abs(got.Lo-want.Lo) > endpointTol*want.SE || math.Abs(got.Hi-want.Hi) > endpointTol*want.SE {
			t.Errorf("%s: interval [%v, %v], SciPy [%v, %v]: more than %.3f standard errors apart", name, got.Lo, got.Hi, want.Lo, want.Hi, endpointTol)
		}
		if math.Abs(se/want.SE-1) > seTol {
			t.Errorf("%s: bootstrap standard error %v, SciPy %v: more than %.2f%% apart", name, se, want.SE, 100*seTol)
		}
	}

	one := newResampler(tasks, []map[string]taskOutcomes{a})
	names := []string{"Birds", "Plants", "Fungi"}
	dist := one.bootstrapDist(b, newRNG(1, "a"), 1+len(names), func(_ *rand.Rand, acc [][]float64, out []float64) {
		out[0] = meanOver(acc[0], all)
		for i, c := range names {
			out[1+i] = meanOver(acc[0], clusters[c])
		}
	})
	check("mean A", dist[0], ref.Bootstrap.MeanA)
	for i, c := range names {
		check("cluster "+c, dist[1+i], ref.Bootstrap.ClusterA[c])
	}
	diff := func(_ *rand.Rand, acc [][]float64, out []float64) {
		out[0] = meanOver(acc[1], all) - meanOver(acc[0], all)
	}
	pair := newResampler(tasks, []map[string]taskOutcomes{a, paired})
	if pair.unpaired != 0 {
		t.Fatalf("%d tasks unpaired with the same images", pair.unpaired)
	}
	check("paired B - A", pair.bootstrapDist(b, newRNG(1, "a", "b"), 1, diff)[0], ref.Bootstrap.PairedDiff)
	unpaired := newResampler(tasks, []map[string]taskOutcomes{a, apart})
	if unpaired.unpaired != len(tasks) {
		t.Fatalf("%d tasks unpaired with different images, want all %d", unpaired.unpaired, len(tasks))
	}
	check("unpaired B - A", unpaired.bootstrapDist(b, newRNG(1, "a", "b"), 1, diff)[0], ref.Bootstrap.UnpairedDiff)
}

func bools(xs []int) []bool {
	out := make([]bool, len(xs))
	for i, x := range xs {
		out[i] = x == 1
	}
	return out
}
