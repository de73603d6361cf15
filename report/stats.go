package report

import (
	"math"
	"math/big"
	"sort"
)

// The statistics a report states: Wilson intervals for one task's accuracy, percentile
// intervals of bootstrap resamples (bootstrap.go) for means over tasks and their differences,
// the sign test over tasks for two runs, and the mean and standard deviation over seeds. Each is
// checked against SciPy on the same numbers (scipy_test.go).

// confidence is the level of every interval in a report.
const confidence = 0.95

// z95 is the standard normal quantile at 0.975, scipy.special.ndtri(0.975).
const z95 = 1.959963984540054

// Interval is a confidence interval; OK is false where the data give none.
type Interval struct {
	Lo, Hi float64
	OK     bool
}

// wilson is the 95% Wilson score interval of right successes in n trials, as
// scipy.stats.binomtest(right, n).proportion_ci(0.95, method="wilson") computes it (Newcombe
// 1998): unlike the normal approximation it stays inside [0, 1] and keeps its coverage near
// 0 and 1, where a probe's accuracy often is.
func wilson(right, n int) Interval {
	if n <= 0 || right < 0 || right > n {
		return Interval{}
	}
	nf := float64(n)
	p := float64(right) / nf
	q := 1 - p
	z := z95
	denom := 2 * (nf + z*z)
	center := (2*nf*p + z*z) / denom
	d := z / denom * math.Sqrt(4*nf*p*q+z*z)
	iv := Interval{Lo: center - d, Hi: center + d, OK: true}
	if right == 0 {
		iv.Lo = 0
	}
	if right == n {
		iv.Hi = 1
	}
	return iv
}

// signTest is the two-sided p-value of the sign test: won of the won+lost tasks that differ,
// against a fair coin (ties are dropped), as scipy.stats.binomtest(won, won+lost, 0.5).pvalue.
// It is computed exactly in integers: 2·P(X ≤ min(won, lost)), capped at 1.
func signTest(won, lost int) float64 {
	n := won + lost
	if n == 0 || 2*won == n {
		return 1
	}
	k := min(won, lost)
	sum, c := new(big.Int), big.NewInt(1) // c = C(n, i)
	for i := 0; i <= k; i++ {
		sum.Add(sum, c)
		c.Mul(c, big.NewInt(int64(n-i)))
		c.Quo(c, big.NewInt(int64(i+1)))
	}
	p, _ := new(big.Rat).SetFrac(sum.Lsh(sum, 1), new(big.Int).Lsh(big.NewInt(1), uint(n))).Float64()
	return min(p, 1)
}

// percentileInterval is the central 95% of values: the 2.5th and 97.5th
// percentiles with linear interpolation between order statistics, as numpy.percentile and
// scipy.stats.bootstrap(method="percentile") take them. NaN values are left out; fewer than two
// finite values give no interval. An endpoint within 1e-9 of zero is zero: a resample's
// difference of two means over tasks sums the tasks' accuracies in floating point, so a
// difference that is exactly zero can come out as ±1e-16, and the sign of an endpoint
// decides whether a run beats, trails or is within noise of another. (Accuracies are
// fractions of test images, so a real difference is at least 1/(images × tasks), far above.)
func percentileInterval(values []float64) Interval {
	finite := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) {
			finite = append(finite, v)
		}
	}
	if len(finite) < 2 {
		return Interval{}
	}
	sort.Float64s(finite)
	alpha := (1 - confidence) / 2
	return Interval{Lo: snapZero(quantile(finite, alpha)), Hi: snapZero(quantile(finite, 1-alpha)), OK: true}
}

// snapZero is v, or 0 when v is within 1e-9 of it.
func snapZero(v float64) float64 {
	if math.Abs(v) < 1e-9 {
		return 0
	}
	return v
}

// quantile of sorted values, numpy's default ("linear") method.
func quantile(sorted []float64, q float64) float64 {
	h := q * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// meanSD is the mean and the sample standard deviation (n − 1 in the denominator, as
// numpy.std(ddof=1)) of values; the deviation is NaN for fewer than two values.
func meanSD(values []float64) (mean, sd float64) {
	if len(values) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, v := range values {
		mean += v
	}
	mean /= float64(len(values))
	if len(values) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, v := range values {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(values)-1))
}
