package export

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// The ONNX versions written: opset 13 (the one operator set every runtime the tests use
// knows) and IR version 7, the IR of the ONNX release that introduced opset 13.
const (
	onnxOpset     = 13
	onnxIRVersion = 7
)

// batchDim names the input's and outputs' free first dimension.
const batchDim = "batch"

// onnxModel builds the ModelProto of the plan with the checkpoint's weights, every batch
// norm folded into the conv or linear layer before it. The caller sets ProducerVersion and
// ModelVersion.
func onnxModel(p *plan, t tensors, meta []keyValue, doc string) (*onnx.ModelProto, error) {
	g := &onnx.GraphProto{
		Name:      "natssl-" + p.model.Backbone,
		DocString: doc,
		Input:     []*onnx.ValueInfoProto{valueInfo(input, 3, p.size, p.size)},
		Output:    []*onnx.ValueInfoProto{valueInfo(p.features, p.dim)},
	}
	if p.projection != "" {
		g.Output = append(g.Output, valueInfo(p.projection, p.projDim))
	}
	for _, n := range p.nodes {
		switch n.kind {
		case opConv:
			cw, err := t.conv(n.conv)
			if err != nil {
				return nil, err
			}
			w, b := cw.folded()
			l := n.conv
			g.Initializer = append(g.Initializer,
				floatTensor(l.torch+".weight", w, l.out, l.in, l.k, l.k),
				floatTensor(l.torch+".bias", b, l.out))
			g.Node = append(g.Node, onnxNode("Conv", n.pre, []string{n.in[0], l.torch + ".weight", l.torch + ".bias"},
				ints("kernel_shape", l.k, l.k), ints("strides", l.stride, l.stride), ints("pads", l.pad, l.pad, l.pad, l.pad)))
		case opMaxPool:
			g.Node = append(g.Node, onnxNode("MaxPool", n.pre, n.in,
				ints("kernel_shape", 3, 3), ints("strides", 2, 2), ints("pads", 1, 1, 1, 1)))
		case opAdd:
			g.Node = append(g.Node, onnxNode("Add", n.pre, n.in))
		case opPool:
			g.Node = append(g.Node, onnxNode("GlobalAveragePool", n.pre, n.in),
				onnxNode("Flatten", n.out, []string{n.pre}, intAttr("axis", 1)))
		case opLinear:
			lw, err := t.linear(n.lin)
			if err != nil {
				return nil, err
			}
			w, b := lw.folded()
			l := n.lin
			g.Initializer = append(g.Initializer,
				floatTensor(l.torch+".weight", w, l.in, l.out),
				floatTensor(l.torch+".bias", b, l.out))
			g.Node = append(g.Node, onnxNode("Gemm", n.pre, []string{n.in[0], l.torch + ".weight", l.torch + ".bias"}))
		}
		if n.relu {
			g.Node = append(g.Node, onnxNode("Relu", n.out, []string{n.pre}))
		}
	}
	m := &onnx.ModelProto{
		IrVersion:    onnxIRVersion,
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: "", Version: onnxOpset}},
		ProducerName: "natssl",
		Domain:       "org.natssl",
		DocString:    doc,
		Graph:        g,
	}
	for _, kv := range meta {
		m.MetadataProps = append(m.MetadataProps, &onnx.StringStringEntryProto{Key: kv.key, Value: kv.value})
	}
	return m, nil
}

// marshalONNX serialises the model deterministically: the same checkpoint and options give
// the same bytes.
func marshalONNX(m *onnx.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("export: encode onnx: %w", err)
	}
	return b, nil
}

// onnxNode is one node named after its output.
func onnxNode(op, out string, in []string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
	return &onnx.NodeProto{Name: out, OpType: op, Input: in, Output: []string{out}, Attribute: attrs}
}

func ints(name string, v ...int) *onnx.AttributeProto {
	a := &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS}
	for _, x := range v {
		a.Ints = append(a.Ints, int64(x))
	}
	return a
}

func intAttr(name string, v int) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: int64(v)}
}

// floatTensor is an initializer holding data as little-endian float32 raw bytes.
func floatTensor(name string, data []float32, dims ...int) *onnx.TensorProto {
	t := &onnx.TensorProto{Name: name, DataType: int32(onnx.TensorProto_FLOAT), RawData: float32Bytes(data)}
	for _, d := range dims {
		t.Dims = append(t.Dims, int64(d))
	}
	return t
}

// valueInfo declares a float32 tensor of shape (batch, dims...).
func valueInfo(name string, dims ...int) *onnx.ValueInfoProto {
	shape := &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{
		{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: batchDim}}}}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{
			Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT), Shape: shape}}}}
}
