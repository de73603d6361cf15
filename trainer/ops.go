package trainer

import (
	"hash/fnv"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The helpers shared by this package's Gorgonia ops (backbone_op.go, batchnorm_op.go,
// linear.go, gather.go) and kernels. Every op hashes by its own address: Gorgonia merges nodes whose ops hash
// alike, and no two of these ops may be merged.

func t1() G.TensorType { return G.TensorType{Dims: 1, Of: tensor.Float32} }
func t2() G.TensorType { return G.TensorType{Dims: 2, Of: tensor.Float32} }
func t4() G.TensorType { return G.TensorType{Dims: 4, Of: tensor.Float32} }

func hashOf(op G.Op) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// grow returns b resized to n, reusing its storage when it is large enough.
func grow(b []float32, n int) []float32 {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]float32, n)
}
