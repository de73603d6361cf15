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
func safetensorsViews(p *plan, t tensors, batches int64) (map[string]safetensors.TensorView, error) {
	views := map[string]safetensors.TensorView{}
	put := func(name string, data []float32, dims ...int) error {
		v, err := safetensors.NewTensorView(safetensors.F32, shape(dims), float32Bytes(data))
		if err != nil {
			return fmt.Errorf("export: safetensors tensor %s: %w", name, err)
		}
		views[name] = v
		return nil
	}
	putBN := func(prefix string, bn batchNorm) error {
		c := len(bn.gamma)
		for _, x := range []struct {
			suffix string
			v      []float32
		}{{".weight", bn.gamma}, {".bias", bn.beta}, {".running_mean", bn.mean}, {".running_var", bn.vr}} {
			if err := put(prefix+x.suffix, x.v, c); err != nil {
				return err
			}
		}
		v, err := safetensors.NewTensorView(safetensors.I64, nil, binary.LittleEndian.AppendUint64(nil, uint64(batches)))
		if err != nil {
			return fmt.Errorf("export: safetensors tensor %s.num_batches_tracked: %w", prefix, err)
		}
		views[prefix+".num_batches_tracked"] = v
		return nil
	}
	for _, n := range p.nodes {
		switch {
		case n.conv != nil:
			l := n.conv
			cw, err := t.conv(l)
			if err != nil {
				return nil, err
			}
			if err := put(l.torch+".weight", cw.w, l.out, l.in, l.k, l.k); err != nil {
				return nil, err
			}
			if err := putBN(l.torchBN, cw.bn); err != nil {
				return nil, err
			}
		case n.lin != nil:
			l := n.lin
			lw, err := t.linear(l)
			if err != nil {
				return nil, err
			}
			if err := put(l.torch+".weight", lw.transposed(), l.out, l.in); err != nil {
				return nil, err
			}
			if err := put(l.torch+".bias", lw.b, l.out); err != nil {
				return nil, err
			}
			if lw.bn != nil {
				if err := putBN(l.torchBN, *lw.bn); err != nil {
					return nil, err
				}
			}
		}
	}
	return views, nil
}

// writeSafetensors writes the views and the metadata in the safetensors format: the
// header's length, the JSON header (with __metadata__), the tensors' bytes.
func writeSafetensors(w io.Writer, views map[string]safetensors.TensorView, meta []keyValue) error {
	m := make(map[string]string, len(meta))
	for _, kv := range meta {
		m[kv.key] = kv.value
	}
	if err := safetensors.SerializeToWriter(views, m, w); err != nil {
		return fmt.Errorf("export: encode safetensors: %w", err)
	}
	return nil
}

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
