//go:build !openblas

package trainer

// BLAS names the sgemm behind the convolutions and linear layers.
const BLAS = "gonum (pure Go)"
