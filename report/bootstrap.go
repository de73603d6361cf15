package report

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/bits"
	"math/rand/v2"
	"sort"
)

// The bootstrap over test images: each resample draws, within every task, as many test images
// as the task has, with replacement, and recomputes each run's accuracy on the drawn images.
// Runs whose outcomes cover the same images of a task share the draws, so that a difference
// between them is paired image by image; runs evaluated on different images of a task are
// resampled apart. Only counts are kept per image (one bit per run), so memory is the number of
// test images times a word, whatever the number of resamples.

// DefaultResamples is the number of bootstrap resamples a report draws unless told otherwise.
const DefaultResamples = 2000

// taskOutcomes are one run's outcomes on one task's test images, by image id in ascending order.
type taskOutcomes struct {
	images  []string
	correct []bool
}

// right counts the images the run got right.
func (t taskOutcomes) right() int {
	k := 0
	for _, c := range t.correct {
		if c {
			k++
		}
	}
	return k
}

// sameImages reports whether a and b are outcomes on the same images.
func sameImages(a, b taskOutcomes) bool {
	if len(a.images) != len(b.images) {
		return false
	}
	for i := range a.images {
		if a.images[i] != b.images[i] {
			return false
		}
	}
	return true
}

// resampler draws bootstrap resamples of the test images of a list of tasks for a few runs.
type resampler struct {
	tasks    []resampleTask
	runs     int
	unpaired int // tasks whose runs had different images, and were resampled apart
}

type resampleTask struct{ units []resampleUnit }

// resampleUnit is runs resampled with the same draws: at most 64, one bit each.
type resampleUnit struct {
	runs  []int
	masks []uint64 // per image: bit k is set where runs[k] got the image right
}

// newResampler prepares resamples of tasks for the runs whose outcomes are given, by task name.
// A run without outcomes on a task has a NaN accuracy there in every resample.
func newResampler(tasks []string, outcomes []map[string]taskOutcomes) *resampler {
	s := &resampler{runs: len(outcomes), tasks: make([]resampleTask, len(tasks))}
	for t, name := range tasks {
		var units []resampleUnit
		var first []taskOutcomes // the outcomes that define each unit's images
		for r, byTask := range outcomes {
			o, ok := byTask[name]
			if !ok || len(o.images) == 0 {
				continue
			}
			u := -1
			for i := range units {
				if len(units[i].runs) < 64 && sameImages(first[i], o) {
					u = i
					break
				}
			}
			if u < 0 {
				units = append(units, resampleUnit{masks: make([]uint64, len(o.images))})
				first = append(first, o)
				u = len(units) - 1
			}
			bit := uint64(1) << len(units[u].runs)
			for i, c := range o.correct {
				if c {
					units[u].masks[i] |= bit
				}
			}
			units[u].runs = append(units[u].runs, r)
		}
		if len(units) > 1 {
			s.unpaired++
		}
		s.tasks[t].units = units
	}
	return s
}

// draw fills acc[r][t] with run r's accuracy on task t in one resample.
func (s *resampler) draw(src *rand.PCG, acc [][]float64) {
	var right [64]int
	for r := range acc {
		for t := range acc[r] {
			acc[r][t] = math.NaN()
		}
	}
	for t, task := range s.tasks {
		for _, u := range task.units {
			n := uint64(len(u.masks))
			if len(u.runs) == 1 { // one run: a mask is 0 or 1
				k := uint64(0)
				for range n {
					k += u.masks[index(src, n)]
				}
				acc[u.runs[0]][t] = float64(k) / float64(n)
				continue
			}
			clear(right[:len(u.runs)])
			for range n {
				for m := u.masks[index(src, n)]; m != 0; m &= m - 1 {
					right[bits.TrailingZeros64(m)]++
				}
			}
			for k, r := range u.runs {
				acc[r][t] = float64(right[k]) / float64(n)
			}
		}
	}
}

// index draws a uniform index below n by multiplying a 64-bit random number by n and keeping
// the high word (Lemire's method without its rejection step: the bias, below n/2^64, is far
// under anything a bootstrap can show).
func index(src *rand.PCG, n uint64) uint64 {
	hi, _ := bits.Mul64(src.Uint64(), n)
	return hi
}

// bootstrapDist draws b resamples from src and returns, for each of the k statistics stat
// computes from a resample's accuracies (acc[run][task]), its b values. stat may draw from rng
// too (to resample seeds), which draws from src; it is called once per resample, after the
// images are drawn.
func (s *resampler) bootstrapDist(b int, src *rand.PCG, k int, stat func(rng *rand.Rand, acc [][]float64, out []float64)) [][]float64 {
	rng := rand.New(src)
	acc := make([][]float64, s.runs)
	for r := range acc {
		acc[r] = make([]float64, len(s.tasks))
	}
	dist := make([][]float64, k)
	for i := range dist {
		dist[i] = make([]float64, b)
	}
	out := make([]float64, k)
	for j := range b {
		s.draw(src, acc)
		stat(rng, acc, out)
		for i, v := range out {
			dist[i][j] = v
		}
	}
	return dist
}

// bootstrap is bootstrapDist's 95% percentile intervals.
func (s *resampler) bootstrap(b int, src *rand.PCG, k int, stat func(rng *rand.Rand, acc [][]float64, out []float64)) []Interval {
	dist := s.bootstrapDist(b, src, k, stat)
	ivs := make([]Interval, k)
	for i, d := range dist {
		ivs[i] = percentileInterval(d)
	}
	return ivs
}

// meanOver is the mean of values at the indices idx; NaN when any is NaN or idx is empty.
func meanOver(values []float64, idx []int) float64 {
	if len(idx) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, i := range idx {
		sum += values[i]
	}
	return sum / float64(len(idx))
}

// newRNG is the random source of one statistic: the report's seed, and a stream named by keys
// (the outcomesKey of each run involved), so that a run's interval does not depend on the
// other runs of the report.
func newRNG(seed uint64, keys ...string) *rand.PCG {
	h := fnv.New64a()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return rand.NewPCG(seed, h.Sum64())
}

// outcomesKey names a run's outcomes by what they are, every task's images and which of them
// the run got right, rather than by the run's id: a run trained again with the same seed and
// config answers every image as before, so its report has the same intervals to the last
// digit, as it has the same means.
func outcomesKey(byTask map[string]taskOutcomes) string {
	tasks := make([]string, 0, len(byTask))
	for t := range byTask {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	h := fnv.New128a()
	var buf []byte
	num := func(n int) { buf = binary.AppendUvarint(buf[:0], uint64(n)); h.Write(buf) }
	field := func(s string) { num(len(s)); h.Write([]byte(s)) }
	for _, t := range tasks {
		o := byTask[t]
		field(t)
		num(len(o.images))
		for i, img := range o.images {
			field(img)
			if o.correct[i] {
				num(1)
			} else {
				num(0)
			}
		}
	}
	return string(h.Sum(nil))
}
