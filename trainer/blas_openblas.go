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
	// Replicas already run one per core; OpenBLAS's own threads would only contend with them.
	C.openblas_set_num_threads(1)
	G.Use(netlib.Implementation{})
}
