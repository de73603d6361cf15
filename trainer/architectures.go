package trainer

import (
	"fmt"

	"github.com/natssl/natssl/configs"
)

// The backbones, built as backbone steps. Parameters are created in the order (and under the
// names) a layer-by-layer build would create them: conv weight, then its batch norm's γ and
// β, block by block, with a block's shortcut last; checkpoints and optimizer state follow
// this order.

// bbBuild is the state of one backbone build.
type bbBuild struct {
	b     *builder
	bb    *backbone
	first int // index of the backbone's first parameter in b.params
}

// convBN names the parameters of a convolution and its batch norm.
type convBN struct {
	name, bnName string
	w, gamma     int // indices among the backbone's parameters (β follows γ)
	in, out, k   int
	bnIndex      int // into b.bns, or −1 without batch statistics
}

// backbone builds model m's backbone for n images of c channels and side size.
func (b *builder) backbone(m configs.Model, n, c, size int) (*backbone, error) {
	bb := &backbone{train: b.train, be: b.be, n: n, c: c, size: size, sc: b.scratch}
	if bb.sc == nil {
		bb.sc = &convScratch{}
	}
	s := &bbBuild{b: b, bb: bb, first: len(b.params)}
	x := bb.newAct(n, size, size, c)
	bb.add(&inputStep{out: x})
	w := m.Width
	var h *act
	switch m.Backbone {
	case "convnet-small":
		h = x
		for i, l := range []struct{ out, stride int }{{w, 1}, {2 * w, 2}, {4 * w, 2}, {8 * w, 2}} {
			name := fmt.Sprintf("enc.conv%d", i+1)
			p := s.params(name, name+".bn", h.c, l.out, 3)
			h = s.convBN(h, p, l.stride, true, nil)
		}
	case "resnet18-cifar", "resnet18", "resnet50":
		if m.Backbone == "resnet18-cifar" {
			h = s.convBN(x, s.params("enc.stem", "enc.stem.bn", c, w, 3), 1, true, nil)
		} else {
			h = s.convBN(x, s.params("enc.stem", "enc.stem.bn", c, w, 7), 2, true, nil)
			h = s.maxPool(h)
		}
		blocks := []int{2, 2, 2, 2}
		if m.Backbone == "resnet50" {
			blocks = []int{3, 4, 6, 3}
		}
		for st, nb := range blocks {
			for blk := 0; blk < nb; blk++ {
				stride := 1
				if st > 0 && blk == 0 {
					stride = 2
				}
				name := fmt.Sprintf("enc.layer%d.%d", st+1, blk)
				if m.Backbone == "resnet50" {
					h = s.bottleneck(h, name, w<<st, stride)
				} else {
					h = s.basicBlock(h, name, w<<st, stride)
				}
			}
		}
	default:
		return nil, fmt.Errorf("trainer: unknown backbone %q", m.Backbone)
	}
	bb.featDim = h.c
	bb.feat = b.be.alloc(n * h.c)
	bb.add(&avgPoolStep{in: h})
	return bb, nil
}

// params creates the parameters of a k×k convolution from in to out channels and its batch norm.
func (s *bbBuild) params(name, bnName string, in, out, k int) convBN {
	b := s.b
	p := convBN{name: name, bnName: bnName, in: in, out: out, k: k, bnIndex: -1}
	p.w = len(b.params) - s.first
	b.param(name+".w", kindWeight, in*k*k, out, in, k, k)
	p.gamma = len(b.params) - s.first
	b.param(bnName+".gamma", kindBNScale, out, out)
	b.param(bnName+".beta", kindBNShift, out, out)
	if !b.noBN {
		p.bnIndex = len(b.bns)
		b.bns = append(b.bns, nil) // the layer comes with its shape, in convBN
		b.bnSt = append(b.bnSt, b.store.bn(bnName, out))
	}
	return p
}

// convBN adds the convolution p at the given stride (padding k/2) and its batch norm, with
// ReLU when relu is set, after adding res when it is not nil.
func (s *bbBuild) convBN(x *act, p convBN, stride int, relu bool, res *act) *act {
	bb, b := s.bb, s.b
	g := newConvGeom(x.n, x.h, x.w, x.c, p.out, p.k, stride, p.k/2)
	l := newConvLayer(g, x == bb.acts[0], b.winograd, bb.sc)
	if l.algo == convWinograd && b.wino != nil {
		l.u = b.wino.buffer(b.params[s.first+p.w], g.o, g.c)
	}
	c := bb.newAct(g.n, g.oh, g.ow, g.o)
	bb.add(&convStep{l: l, w: p.w, in: x, out: c})
	bb.flops += l.flops()
	bn := newBNLayer(g.outPixels(), g.o, g.oh*g.ow, relu, res != nil, b.bnMode())
	b.be.bnLayer(bn)
	if p.bnIndex >= 0 {
		b.bns[p.bnIndex] = bn
	}
	y := bb.newAct(g.n, g.oh, g.ow, g.o)
	bb.add(&bnStep{l: bn, gamma: p.gamma, beta: p.gamma + 1, in: c, res: res, out: y})
	return y
}

func (s *bbBuild) maxPool(x *act) *act {
	g := newConvGeom(x.n, x.h, x.w, x.c, x.c, 3, 2, 1)
	y := s.bb.newAct(g.n, g.oh, g.ow, g.o)
	s.bb.add(&maxPoolStep{g: g, in: x, out: y})
	return y
}

func (s *bbBuild) basicBlock(x *act, name string, out, stride int) *act {
	p1 := s.params(name+".conv1", name+".bn1", x.c, out, 3)
	p2 := s.params(name+".conv2", name+".bn2", out, out, 3)
	short := x
	if stride != 1 || x.c != out {
		short = s.convBN(x, s.params(name+".down", name+".down.bn", x.c, out, 1), stride, false, nil)
	}
	h := s.convBN(x, p1, stride, true, nil)
	return s.convBN(h, p2, 1, true, short)
}

func (s *bbBuild) bottleneck(x *act, name string, width, stride int) *act {
	out := 4 * width
	p1 := s.params(name+".conv1", name+".bn1", x.c, width, 1)
	p2 := s.params(name+".conv2", name+".bn2", width, width, 3)
	p3 := s.params(name+".conv3", name+".bn3", width, out, 1)
	short := x
	if stride != 1 || x.c != out {
		short = s.convBN(x, s.params(name+".down", name+".down.bn", x.c, out, 1), stride, false, nil)
	}
	h := s.convBN(x, p1, 1, true, nil)
	h = s.convBN(h, p2, stride, true, nil)
	return s.convBN(h, p3, 1, true, short)
}
