package export

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/nlpodyssey/safetensors"
)

// safetensorsViews lays the plan's layers out under PyTorch's names and layouts, unfolded:
// each conv's weight, each batch norm's weight (γ), bias (β), running_mean, running_var and
// num_batches_tracked; the head's linear weights transposed to out × in.
func safetensorsViews(p *plan, t tensors, batches int64) (map[string]view, error) {
	views := map[string]view{}
	put := func(name string, data []float32, dims ...int) {
		views[name] = view{dtype: safetensors.F32, shape: shape(dims), data: float32Bytes(data)}
	}
	putBN := func(prefix string, bn batchNorm) {
		c := len(bn.gamma)
		put(prefix+".weight", bn.gamma, c)
		put(prefix+".bias", bn.beta, c)
		put(prefix+".running_mean", bn.mean, c)
		put(prefix+".running_var", bn.vr, c)
		views[prefix+".num_batches_tracked"] = view{dtype: safetensors.I64, shape: []uint64{},
			data: binary.LittleEndian.AppendUint64(nil, uint64(batches))}
	}
	for _, n := range p.nodes {
		switch {
		case n.conv != nil:
			l := n.conv
			cw, err := t.conv(l)
			if err != nil {
				return nil, err
			}
			put(l.torch+".weight", cw.w, l.out, l.in, l.k, l.k)
			putBN(l.torchBN, cw.bn)
		case n.lin != nil:
			l := n.lin
			lw, err := t.linear(l)
			if err != nil {
				return nil, err
			}
			put(l.torch+".weight", lw.transposed(), l.out, l.in)
			put(l.torch+".bias", lw.b, l.out)
			if lw.bn != nil {
				putBN(l.torchBN, *lw.bn)
			}
		}
	}
	return views, nil
}

// writeSafetensors writes the views and the metadata in the safetensors format: the
// header's length, the JSON header (with __metadata__), the tensors' bytes.
func writeSafetensors(w io.Writer, views map[string]view, meta []keyValue) error {
	m := make(map[string]string, len(meta))
	for _, kv := range meta {
		m[kv.key] = kv.value
	}
	if err := safetensors.SerializeToWriter(views, m, w); err != nil {
		return fmt.Errorf("export: encode safetensors: %w", err)
	}
	return nil
}

// view is one tensor for safetensors.SerializeToWriter. (The library's own TensorView
// refuses a scalar: it counts the elements of shape [] as 0, where the format says 1.)
type view struct {
	dtype safetensors.DType
	shape []uint64
	data  []byte
}

func (v view) DType() safetensors.DType { return v.dtype }
func (v view) Shape() []uint64          { return v.shape }
func (v view) Data() []byte             { return v.data }
func (v view) DataLen() uint64          { return uint64(len(v.data)) }

func shape(dims []int) []uint64 {
	s := make([]uint64, len(dims))
	for i, d := range dims {
		s[i] = uint64(d)
	}
	return s
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}
