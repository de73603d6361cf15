package export

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx"
	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/advancedclimatesystems/gonnx/ops"
	"gorgonia.org/tensor"

	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/trainer"
)

// gonnxEncoder runs an exported ONNX file with gonnx, a pure-Go ONNX runtime. gonnx
// v1.1.0 runs Conv, Relu, Add, Flatten and Gemm itself; it has no MaxPool or
// GlobalAveragePool, so this file adds the two as gonnx operators written from the ONNX
// operator spec (they share no code with natssl). It satisfies probe.Encoder.
type gonnxEncoder struct {
	mp   *onnx.ModelProto
	dim  int
	size int
	out  string
}

var _ probe.Encoder = (*gonnxEncoder)(nil)

func openGonnx(t testing.TB, path string, output string) *gonnxEncoder {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := gonnx.ModelProtoFromBytes(b)
	if err != nil {
		t.Fatalf("gonnx: %v", err)
	}
	if err := widenPointwiseConvs(mp); err != nil {
		t.Fatal(err)
	}
	e := &gonnxEncoder{mp: mp, out: output}
	m, err := e.model()
	if err != nil {
		t.Fatal(err)
	}
	in := m.InputShapes()[input]
	outShape := m.OutputShape(output)
	if len(in) != 4 || len(outShape) != 2 || !in[0].IsDynamic {
		t.Fatalf("gonnx: input shape %v, output %s shape %v", in, output, outShape)
	}
	e.dim, e.size = int(outShape[1].Size), int(in[2].Size)
	return e
}

// model returns a gonnx model of the file, with the two operators added. A model runs once:
// gonnx's Conv reshapes its bias parameter in place, and fails on the next run.
func (e *gonnxEncoder) model() (*gonnx.Model, error) {
	m, err := gonnx.NewModel(e.mp)
	if err != nil {
		return nil, fmt.Errorf("gonnx: %w", err)
	}
	get := m.GetOperator
	m.GetOperator = func(op string) (ops.Operator, error) {
		switch op {
		case "MaxPool":
			return &maxPool{}, nil
		case "GlobalAveragePool":
			return &globalAveragePool{}, nil
		}
		return get(op)
	}
	return m, nil
}

func (e *gonnxEncoder) Dim() int { return e.dim }

func (e *gonnxEncoder) Features(ctx context.Context, x []float32, n int) ([]float32, error) {
	in := tensor.New(tensor.WithShape(n, 3, e.size, e.size), tensor.WithBacking(append([]float32(nil), x...)))
	m, err := e.model()
	if err != nil {
		return nil, err
	}
	res, err := m.Run(gonnx.Tensors{input: in})
	if err != nil {
		return nil, fmt.Errorf("gonnx: %w", err)
	}
	out, ok := res[e.out]
	if !ok {
		return nil, fmt.Errorf("gonnx: no output %q", e.out)
	}
	d := out.(*tensor.Dense)
	if d.IsView() {
		d = d.Materialize().(*tensor.Dense)
	}
	if s := d.Shape(); len(s) != 2 || s[0] != n || s[1] != e.dim {
		return nil, fmt.Errorf("gonnx: output shape %v", s)
	}
	return append([]float32(nil), d.Data().([]float32)...), nil
}

// widenPointwiseConvs rewrites every 1×1 convolution of a model as the same convolution
// with a 3×3 kernel that is zero but for its centre and one more cell of padding on each
// side: the same outputs, exactly (the added products are exact zeros). gonnx v1.1.0 slices
// a 1×1 window down to a vector and then fails to broadcast it against the kernel.
func widenPointwiseConvs(mp *onnx.ModelProto) error {
	inits := map[string]*onnx.TensorProto{}
	for _, t := range mp.Graph.Initializer {
		inits[t.Name] = t
	}
	for _, n := range mp.Graph.Node {
		if n.OpType != "Conv" {
			continue
		}
		var kernel, pads *onnx.AttributeProto
		for _, a := range n.Attribute {
			switch a.Name {
			case "kernel_shape":
				kernel = a
			case "pads":
				pads = a
			}
		}
		if kernel == nil || pads == nil || len(kernel.Ints) != 2 || kernel.Ints[0] != 1 || kernel.Ints[1] != 1 {
			continue
		}
		w := inits[n.Input[1]]
		if w == nil || len(w.Dims) != 4 {
			return fmt.Errorf("conv %s: no 4-d weight %s", n.Name, n.Input[1])
		}
		o, c := int(w.Dims[0]), int(w.Dims[1])
		raw := make([]byte, 4*o*c*9)
		for i := 0; i < o*c; i++ {
			copy(raw[4*(9*i+4):], w.RawData[4*i:4*i+4])
		}
		w.RawData, w.Dims = raw, []int64{int64(o), int64(c), 3, 3}
		kernel.Ints = []int64{3, 3}
		for i := range pads.Ints {
			pads.Ints[i]++
		}
	}
	return nil
}

// maxPool is ONNX MaxPool (opset 12+) for 4-d float32 input without dilations or ceil
// mode: padded cells are ignored.
type maxPool struct{ kernel, strides, pads []int }

func (op *maxPool) String() string { return "maxpool operator (test)" }
func (op *maxPool) Init(n *onnx.NodeProto) error {
	for _, a := range n.GetAttribute() {
		v := make([]int, len(a.GetInts()))
		for i, x := range a.GetInts() {
			v[i] = int(x)
		}
		switch a.GetName() {
		case "kernel_shape":
			op.kernel = v
		case "strides":
			op.strides = v
		case "pads":
			op.pads = v
		default:
			return fmt.Errorf("maxpool: attribute %s not supported here", a.GetName())
		}
	}
	if len(op.kernel) != 2 {
		return fmt.Errorf("maxpool: kernel_shape %v", op.kernel)
	}
	if op.strides == nil {
		op.strides = []int{1, 1}
	}
	if op.pads == nil {
		op.pads = []int{0, 0, 0, 0}
	}
	return nil
}
func (op *maxPool) GetMinInputs() int { return 1 }
func (op *maxPool) GetMaxInputs() int { return 1 }
func (op *maxPool) GetInputTypeConstraints() [][]tensor.Dtype {
	return [][]tensor.Dtype{{tensor.Float32}}
}
func (op *maxPool) ValidateInputs(in []tensor.Tensor) ([]tensor.Tensor, error) {
	return ops.ValidateInputs(op, in)
}

func (op *maxPool) Apply(in []tensor.Tensor) ([]tensor.Tensor, error) {
	x, s := denseData(in[0])
	n, c, h, w := s[0], s[1], s[2], s[3]
	kh, kw, sh, sw := op.kernel[0], op.kernel[1], op.strides[0], op.strides[1]
	top, left, bottom, right := op.pads[0], op.pads[1], op.pads[2], op.pads[3]
	oh := (h+top+bottom-kh)/sh + 1
	ow := (w+left+right-kw)/sw + 1
	out := make([]float32, n*c*oh*ow)
	for p := 0; p < n*c; p++ {
		plane := x[p*h*w : (p+1)*h*w]
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				m := float32(math.Inf(-1))
				for ky := 0; ky < kh; ky++ {
					iy := oy*sh - top + ky
					if iy < 0 || iy >= h {
						continue
					}
					for kx := 0; kx < kw; kx++ {
						ix := ox*sw - left + kx
						if ix >= 0 && ix < w && plane[iy*w+ix] > m {
							m = plane[iy*w+ix]
						}
					}
				}
				out[(p*oh+oy)*ow+ox] = m
			}
		}
	}
	return []tensor.Tensor{tensor.New(tensor.WithShape(n, c, oh, ow), tensor.WithBacking(out))}, nil
}

// globalAveragePool is ONNX GlobalAveragePool for 4-d float32 input: (N, C, 1, 1).
type globalAveragePool struct{}

func (op *globalAveragePool) String() string { return "globalaveragepool operator (test)" }
func (op *globalAveragePool) Init(n *onnx.NodeProto) error {
	if len(n.GetAttribute()) != 0 {
		return fmt.Errorf("globalaveragepool: takes no attributes")
	}
	return nil
}
func (op *globalAveragePool) GetMinInputs() int { return 1 }
func (op *globalAveragePool) GetMaxInputs() int { return 1 }
func (op *globalAveragePool) GetInputTypeConstraints() [][]tensor.Dtype {
	return [][]tensor.Dtype{{tensor.Float32}}
}
func (op *globalAveragePool) ValidateInputs(in []tensor.Tensor) ([]tensor.Tensor, error) {
	return ops.ValidateInputs(op, in)
}

func (op *globalAveragePool) Apply(in []tensor.Tensor) ([]tensor.Tensor, error) {
	x, s := denseData(in[0])
	hw := s[2] * s[3]
	out := make([]float32, s[0]*s[1])
	for p := range out {
		var sum float64
		for _, v := range x[p*hw : (p+1)*hw] {
			sum += float64(v)
		}
		out[p] = float32(sum / float64(hw))
	}
	return []tensor.Tensor{tensor.New(tensor.WithShape(s[0], s[1], 1, 1), tensor.WithBacking(out))}, nil
}

// denseData returns a 4-d tensor's values in row-major order and its shape.
func denseData(t tensor.Tensor) ([]float32, tensor.Shape) {
	d := t.(*tensor.Dense)
	if d.IsView() {
		d = d.Materialize().(*tensor.Dense)
	}
	return d.Data().([]float32), d.Shape()
}

var (
	_ ops.Operator = (*maxPool)(nil)
	_ ops.Operator = (*globalAveragePool)(nil)
)

// TestONNXGonnx exports every backbone to ONNX, runs the file with gonnx on real images
// in their evaluation view, and compares the features (and the projection head's output,
// against the head applied to natssl's features) with natssl's own forward pass.
func TestONNXGonnx(t *testing.T) {
	for _, f := range fixtures {
		if !f.gonnx {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			ckpt := f.checkpoint(t)
			out := filepath.Join(t.TempDir(), f.name+".onnx")
			res, err := Export(context.Background(), ckpt, Options{Format: ONNX, WithHead: true}, out)
			if err != nil {
				t.Fatal(err)
			}
			if res.ImageSize != f.evalSize {
				t.Fatalf("image size %d, want eval.image_size %d", res.ImageSize, f.evalSize)
			}
			const n = 3
			x, want := f.natssl(t, n, f.evalSize)
			got, err := openGonnx(t, out, featuresName).Features(context.Background(), x, n)
			if err != nil {
				t.Fatal(err)
			}
			compareRows(t, "gonnx features", got, want, res.Dim)
			proj, err := openGonnx(t, out, projectionName).Features(context.Background(), x, n)
			if err != nil {
				t.Fatal(err)
			}
			compareRows(t, "gonnx projection", proj, headOf(t, f.read(t), want, n), res.ProjDim)
		})
	}
}

// headOf applies the checkpoint's projection head (Linear, batch norm with its running
// statistics, ReLU, Linear) to n feature rows, in float64 and without folding.
func headOf(t testing.TB, c *trainer.Checkpoint, feat []float32, n int) []float32 {
	t.Helper()
	linear := func(x []float64, name string) []float64 {
		w, b := c.Tensors["param/"+name+".w"], c.Tensors["param/"+name+".b"]
		in, out := len(x)/n, len(b)
		if len(w) != in*out {
			t.Fatalf("%s: %d weights for %d -> %d", name, len(w), in, out)
		}
		y := make([]float64, n*out)
		for r := 0; r < n; r++ {
			for j := 0; j < out; j++ {
				s := float64(b[j])
				for i := 0; i < in; i++ {
					s += x[r*in+i] * float64(w[i*out+j])
				}
				y[r*out+j] = s
			}
		}
		return y
	}
	x := make([]float64, len(feat))
	for i, v := range feat {
		x[i] = float64(v)
	}
	h := linear(x, "head.fc1")
	g, be := c.Tensors["param/head.bn1.gamma"], c.Tensors["param/head.bn1.beta"]
	mu, vr := c.Tensors["bn/head.bn1/mean"], c.Tensors["bn/head.bn1/var"]
	for i := range h {
		j := i % len(g)
		h[i] = math.Max(0, float64(g[j])*(h[i]-float64(mu[j]))/math.Sqrt(float64(vr[j])+1e-5)+float64(be[j]))
	}
	z := linear(h, "head.fc2")
	out := make([]float32, len(z))
	for i, v := range z {
		out[i] = float32(v)
	}
	return out
}
