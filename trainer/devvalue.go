package trainer

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// devValue is a tensor in device memory as a Gorgonia value: what the nodes of a replica
// on a GPU hold. Gorgonia's tape machine passes values from op to op without reading them,
// so the graph is built and differentiated as on the CPU while the numbers stay on the
// device. Data returns the value itself: host code that expects []float32 fails at once
// rather than reading device memory.
type devValue struct {
	m     mem
	shape tensor.Shape
}

var (
	_ G.Value      = (*devValue)(nil)
	_ G.Typer      = (*devValue)(nil)
	_ fmt.Stringer = (*devValue)(nil)
)

func newDevValue(m mem, shape ...int) *devValue {
	return &devValue{m: m, shape: tensor.Shape(shape).Clone()}
}

func (v *devValue) Shape() tensor.Shape { return v.shape }
func (v *devValue) Size() int           { return v.shape.TotalSize() }
func (v *devValue) Data() interface{}   { return v }
func (v *devValue) Dtype() tensor.Dtype { return tensor.Float32 }
func (v *devValue) Uintptr() uintptr    { return uintptr(v.m.d) }
func (v *devValue) MemSize() uintptr    { return uintptr(4 * v.m.n) }
func (v *devValue) Type() hm.Type {
	return G.TensorType{Dims: len(v.shape), Of: tensor.Float32}
}
func (v *devValue) String() string {
	return fmt.Sprintf("device tensor %v at %#x", v.shape, v.m.d)
}
func (v *devValue) Format(s fmt.State, _ rune) { fmt.Fprint(s, v.String()) }
