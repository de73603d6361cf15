package cli

import (
	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/decode"
	"github.com/natssl/natssl/trainer"
)

// The implementations this binary was built with, as `natssl version` prints them.
func init() {
	buildFeatures["jpeg"] = decode.Backend
	buildFeatures["pixels"] = augment.Kernels
	buildFeatures["blas"] = trainer.BLAS
}
