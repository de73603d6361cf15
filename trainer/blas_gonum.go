//go:build !openblas

package trainer

// BLAS names the sgemm behind the convolutions and linear layers.
const BLAS = "gonum (pure Go)"

// setBLASThreads does nothing: gonum's sgemm splits large products over goroutines itself.
func setBLASThreads(int) {}
