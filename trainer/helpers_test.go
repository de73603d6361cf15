package trainer

import (
	"io"
	"math"
)

var ioEOF = io.EOF

func nan() float64 { return math.NaN() }
