package export

import (
	"fmt"

	"github.com/natssl/natssl/configs"
)

// bnEpsilon is the batch-norm epsilon natssl trains and evaluates with (PyTorch's default).
const bnEpsilon = 1e-5

// opKind is one operation of the inference graph.
type opKind int

const (
	opConv    opKind = iota // a convolution with its batch norm folded in, then ReLU if relu
	opMaxPool               // 3×3, stride 2, padding 1, padding ignored
	opAdd                   // residual sum, then ReLU
	opPool                  // global average pool and flatten: (N, C, H, W) → (N, C)
	opLinear                // a linear layer, with its batch norm folded in if bn is set, then ReLU if relu
)

// node is one step of the plan; its output is named by out.
type node struct {
	kind opKind
	in   []string
	pre  string // the value before the ReLU (or the flatten, for the pool)
	out  string // the node's result, what later nodes read
	conv *convLayer
	lin  *linearLayer
	relu bool
	// shape of the output: c×h×w (h = w = 1 after the pool)
	c, h, w int
}

// convLayer is a natssl convolution (no bias) and the batch norm after it.
type convLayer struct {
	name, bn       string // natssl names: enc.layer1.0.conv1 (param .w), enc.layer1.0.bn1
	torch, torchBN string // torchvision names: layer1.0.conv1, layer1.0.bn1
	in, out        int
	k, stride, pad int
}

// linearLayer is a natssl linear layer of the projection head, with the batch norm after
// it when bn is set.
type linearLayer struct {
	name, bn       string // head.fc1 (params .w of shape in×out, .b), head.bn1
	torch, torchBN string // head.0, head.1
	in, out        int
}

// plan is the inference graph of one backbone at one image size, in execution order. It
// mirrors trainer's model.go layer for layer: the export tests hold the two to each other
// by comparing features.
type plan struct {
	model configs.Model
	size  int
	nodes []*node
	// features is the pooled backbone output, dim its length; projection the head's output
	// (empty without the head).
	features   string
	dim        int
	projection string
	projDim    int
}

// planner appends nodes while tracking each value's shape.
type planner struct {
	p     *plan
	shape map[string][3]int
}

// The names of the ONNX graph's input and outputs.
const (
	input          = "images"
	featuresName   = "features"
	projectionName = "projection"
)

// newPlan lays out the backbone (and the projection head when withHead) for square images
// of the given side. A side too small for the backbone's strides is an error.
func newPlan(m configs.Model, size int, withHead bool) (*plan, error) {
	if m.Width < 1 {
		return nil, fmt.Errorf("export: model.width %d", m.Width)
	}
	if size < 1 {
		return nil, fmt.Errorf("export: image size %d: want a positive side in pixels", size)
	}
	p := &plan{model: m, size: size}
	b := &planner{p: p, shape: map[string][3]int{input: {3, size, size}}}
	w := m.Width
	var h string
	switch m.Backbone {
	case "convnet-small":
		h = input
		for i, c := range []struct{ out, stride int }{{w, 1}, {2 * w, 2}, {4 * w, 2}, {8 * w, 2}} {
			name := fmt.Sprintf("enc.conv%d", i+1)
			h = b.conv(h, convLayer{name: name, bn: name + ".bn",
				torch: fmt.Sprintf("conv%d", i+1), torchBN: fmt.Sprintf("bn%d", i+1),
				out: c.out, k: 3, stride: c.stride, pad: 1}, true)
		}
	case "resnet18-cifar", "resnet18":
		if m.Backbone == "resnet18-cifar" {
			h = b.conv(input, stem(w, 3, 1, 1), true)
		} else {
			h = b.maxPool(b.conv(input, stem(w, 7, 2, 3), true))
		}
		for s, width := range []int{w, 2 * w, 4 * w, 8 * w} {
			for blk := 0; blk < 2; blk++ {
				h = b.basicBlock(h, s+1, blk, width, blockStride(s, blk))
			}
		}
	case "resnet50":
		h = b.maxPool(b.conv(input, stem(w, 7, 2, 3), true))
		for s, blocks := range []int{3, 4, 6, 3} {
			for blk := 0; blk < blocks; blk++ {
				h = b.bottleneck(h, s+1, blk, w<<s, blockStride(s, blk))
			}
		}
	default:
		return nil, fmt.Errorf("export: unknown backbone %q", m.Backbone)
	}
	p.features = b.pool(h)
	p.dim = b.shape[p.features][0]
	if withHead {
		if m.ProjHidden < 1 || m.ProjDim < 1 {
			return nil, fmt.Errorf("export: the projection head needs model.proj_hidden and model.proj_dim (have %d, %d)", m.ProjHidden, m.ProjDim)
		}
		z := b.linear(p.features, linearLayer{name: "head.fc1", bn: "head.bn1", torch: "head.0", torchBN: "head.1", out: m.ProjHidden}, true, "head.0")
		p.projection = b.linear(z, linearLayer{name: "head.fc2", torch: "head.3", out: m.ProjDim}, false, projectionName)
		p.projDim = m.ProjDim
	}
	return p, nil
}

// stem is the first convolution of the ResNets, torchvision's conv1 and bn1.
func stem(w, k, stride, pad int) convLayer {
	return convLayer{name: "enc.stem", bn: "enc.stem.bn", torch: "conv1", torchBN: "bn1", out: w, k: k, stride: stride, pad: pad}
}

// blockStride is 2 for the first block of every stage but the first.
func blockStride(stage, block int) int {
	if stage > 0 && block == 0 {
		return 2
	}
	return 1
}

// add appends n, naming its value before the ReLU pre and its result pre or post.
func (b *planner) add(n *node, pre, post string) string {
	n.pre, n.out = pre, pre
	if n.relu || n.kind == opPool {
		n.out = post
	}
	b.p.nodes = append(b.p.nodes, n)
	b.shape[n.out] = [3]int{n.c, n.h, n.w}
	return n.out
}

func (b *planner) conv(x string, l convLayer, relu bool) string {
	s := b.shape[x]
	l.in = s[0]
	oh := (s[1]+2*l.pad-l.k)/l.stride + 1
	ow := (s[2]+2*l.pad-l.k)/l.stride + 1
	return b.add(&node{kind: opConv, in: []string{x}, conv: &l, relu: relu, c: l.out, h: oh, w: ow}, l.torch, l.torch+".relu")
}

func (b *planner) maxPool(x string) string {
	s := b.shape[x]
	return b.add(&node{kind: opMaxPool, in: []string{x}, c: s[0], h: (s[1]+2-3)/2 + 1, w: (s[2]+2-3)/2 + 1}, "maxpool", "")
}

// residual adds the block's branch and shortcut and applies ReLU.
func (b *planner) residual(prefix, h, short string) string {
	s := b.shape[h]
	return b.add(&node{kind: opAdd, in: []string{h, short}, relu: true, c: s[0], h: s[1], w: s[2]}, prefix+".add", prefix)
}

func (b *planner) pool(x string) string {
	s := b.shape[x]
	return b.add(&node{kind: opPool, in: []string{x}, c: s[0], h: 1, w: 1}, "pool", featuresName)
}

func (b *planner) linear(x string, l linearLayer, relu bool, name string) string {
	l.in = b.shape[x][0]
	return b.add(&node{kind: opLinear, in: []string{x}, lin: &l, relu: relu, c: l.out, h: 1, w: 1}, name, name+".relu")
}

// basicBlock is trainer's basicBlock: torchvision's BasicBlock.
func (b *planner) basicBlock(x string, stage, block, out, stride int) string {
	nat := fmt.Sprintf("enc.layer%d.%d", stage, block)
	tv := fmt.Sprintf("layer%d.%d", stage, block)
	h := b.conv(x, blockConv(nat, tv, 1, out, 3, stride, 1), true)
	h = b.conv(h, blockConv(nat, tv, 2, out, 3, 1, 1), false)
	return b.residual(tv, h, b.shortcut(x, nat, tv, out, stride))
}

// bottleneck is trainer's bottleneck: torchvision's Bottleneck (stride on the 3×3 conv).
func (b *planner) bottleneck(x string, stage, block, width, stride int) string {
	nat := fmt.Sprintf("enc.layer%d.%d", stage, block)
	tv := fmt.Sprintf("layer%d.%d", stage, block)
	h := b.conv(x, blockConv(nat, tv, 1, width, 1, 1, 0), true)
	h = b.conv(h, blockConv(nat, tv, 2, width, 3, stride, 1), true)
	h = b.conv(h, blockConv(nat, tv, 3, 4*width, 1, 1, 0), false)
	return b.residual(tv, h, b.shortcut(x, nat, tv, 4*width, stride))
}

// shortcut is the identity, or a strided 1×1 conv and batch norm where the shape changes.
func (b *planner) shortcut(x, nat, tv string, out, stride int) string {
	if stride == 1 && b.shape[x][0] == out {
		return x
	}
	return b.conv(x, convLayer{name: nat + ".down", bn: nat + ".down.bn", torch: tv + ".downsample.0",
		torchBN: tv + ".downsample.1", out: out, k: 1, stride: stride}, false)
}

func blockConv(nat, tv string, i, out, k, stride, pad int) convLayer {
	return convLayer{name: fmt.Sprintf("%s.conv%d", nat, i), bn: fmt.Sprintf("%s.bn%d", nat, i),
		torch: fmt.Sprintf("%s.conv%d", tv, i), torchBN: fmt.Sprintf("%s.bn%d", tv, i),
		out: out, k: k, stride: stride, pad: pad}
}
