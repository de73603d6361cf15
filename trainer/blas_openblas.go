//go:build openblas

package trainer

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int num_threads);
*/
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

// BLAS names the sgemm behind the convolutions and linear layers.
const BLAS = "OpenBLAS (cgo, gonum.org/v1/netlib)"

func init() {
	G.Use(netlib.Implementation{})
	setBLASThreads(1)
}

// setBLASThreads sets OpenBLAS's thread count (global to the process).
func setBLASThreads(n int) { C.openblas_set_num_threads(C.int(n)) }
