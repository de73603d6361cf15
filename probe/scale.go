package probe

import "math"

// scaler is scikit-learn's StandardScaler fitted on one task's train rows: the mean and the
// population standard deviation per feature, with features that are constant up to rounding
// given scale 1 (sklearn.preprocessing._data._is_constant_feature), so that they become 0
// rather than rounding noise blown up.
type scaler struct {
	mean, scale []float64
}

// fitScaler fits on rows of x (stride d), summing rows in order as numpy reduces axis 0.
func fitScaler(x []float64, rows, d int) scaler {
	sum := make([]float64, d)
	for i := 0; i < rows; i++ {
		r := x[i*d : (i+1)*d]
		for j, v := range r {
			sum[j] += v
		}
	}
	n := float64(rows)
	mean := make([]float64, d)
	for j := range sum {
		mean[j] = sum[j] / n
	}
	// The corrected two-pass variance of sklearn.utils.extmath._incremental_mean_and_var.
	corr := make([]float64, d)
	sq := make([]float64, d)
	for i := 0; i < rows; i++ {
		r := x[i*d : (i+1)*d]
		for j, v := range r {
			t := v - mean[j]
			corr[j] += t
			sq[j] += t * t
		}
	}
	eps := math.Nextafter(1, 2) - 1
	scale := make([]float64, d)
	for j := range scale {
		v := (sq[j] - corr[j]*corr[j]/n) / n
		upper := n*eps*v + (n*mean[j]*eps)*(n*mean[j]*eps)
		s := math.Sqrt(v)
		if v <= upper {
			s = 1
		}
		scale[j] = s
	}
	return scaler{mean: mean, scale: scale}
}

// transform standardises rows of x (stride d) in place.
func (s scaler) transform(x []float64, rows, d int) {
	for i := 0; i < rows; i++ {
		r := x[i*d : (i+1)*d]
		for j := range r {
			r[j] = (r[j] - s.mean[j]) / s.scale[j]
		}
	}
}

// normalizeRows scales each row of x (stride d) to unit Euclidean norm; zero rows stay zero.
func normalizeRows(x []float64, rows, d int) {
	for i := 0; i < rows; i++ {
		r := x[i*d : (i+1)*d]
		ss := 0.0
		for _, v := range r {
			ss += v * v
		}
		norm := math.Sqrt(ss)
		if norm < 10*(math.Nextafter(1, 2)-1) {
			norm = 1
		}
		for j := range r {
			r[j] /= norm
		}
	}
}
