//go:build !openblas

package trainer

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// lossBLAS is the double-precision BLAS of the methods' products over the global batch
// (VICReg's and Barlow Twins' d × d products, MoCo's queue): gonum's pure Go.
var lossBLAS blas.Float64 = gonum.Implementation{}
