package trainer

// backbone is an encoder as a list of steps over channels-last activations, run forward
// and backward by one Gorgonia op (backbone_op.go). Inside it, this package decides what
// Gorgonia's graph cannot: the order of the steps, which activations are kept for the
// backward pass and which buffers the gradients reuse. A residual block's input feeds two
// steps, and their gradients are summed in place rather than by a separate addition.
//
// Every buffer comes from one pool (memplan.go). An activation goes back to it after its
// last reader in the forward pass unless a backward step reads it, and then after the last
// of those; the output of a batch norm with ReLU and no residual is not kept but recomputed
// from the batch norm's input when the backward pass reaches the convolution that reads it.
// So a ResNet block keeps three activations (both batch norms' inputs and its output), and
// the pool's peak is the kept activations plus a few gradient buffers.
type backbone struct {
	steps []bbStep
	acts  []*act
	train bool
	be    backend

	n, c, size int   // input images: n × c × size × size, channels-first
	x          mem   // the input of the current forward
	w, dw      []mem // parameter values (in input order) and their gradients
	feat       mem   // pooled output, n × featDim
	dfeat      mem   // its gradient, set before backward
	featDim    int
	pool       bufPool
	sc         *convScratch
	flops      float64
}

// act is one activation: n·h·w rows of c channels.
type act struct {
	n, h, w, c int
	data, grad mem
	producer   bbStep
	readers    int // steps whose forward reads it
	saved      int // steps whose backward reads it
	left       int // forward readers still to run
	bleft      int // backward readers still to run
}

func (a *act) size() int { return a.n * a.h * a.w * a.c }

// kept reports whether a training forward keeps a's data for the backward pass, rather
// than dropping it (and recomputing it if a backward step reads it).
func (a *act) kept() bool {
	if a.saved == 0 {
		return false
	}
	r, ok := a.producer.(recomputer)
	return !ok || !r.recomputable()
}

// bbStep is one step of a backbone: its forward reads its inputs and writes its output; its
// backward reads the output's gradient (and the activations saves lists) and adds to, or
// hands on, the inputs' gradients.
type bbStep interface {
	inputs() []*act
	output() *act
	saves() []*act
	forward(bb *backbone)
	backward(bb *backbone)
}

// recomputer is a step that can write its output again from its (kept) inputs.
type recomputer interface {
	recomputable() bool
	recompute(bb *backbone, out mem)
}

func (bb *backbone) newAct(n, h, w, c int) *act {
	a := &act{n: n, h: h, w: w, c: c}
	bb.acts = append(bb.acts, a)
	return a
}

func (bb *backbone) add(s bbStep) {
	for _, in := range s.inputs() {
		in.readers++
	}
	if bb.train {
		for _, a := range s.saves() {
			a.saved++
		}
	}
	if out := s.output(); out != nil {
		out.producer = s
	}
	bb.steps = append(bb.steps, s)
	bb.be.step(s)
}

// release returns a's data to the pool.
func (bb *backbone) release(a *act) {
	if !a.data.none() {
		bb.pool.put(a.data)
		a.data = mem{}
	}
}

// forward runs the steps on bb.x and bb.w and leaves the pooled features in bb.feat.
func (bb *backbone) forward() {
	bb.pool.start()
	for _, a := range bb.acts {
		bb.release(a) // left by a forward whose backward did not run
		if !a.grad.none() {
			bb.pool.put(a.grad)
			a.grad = mem{}
		}
		a.left, a.bleft = a.readers, a.saved
	}
	for _, s := range bb.steps {
		if out := s.output(); out != nil {
			out.data = bb.pool.get(out.size())
		}
		s.forward(bb)
		for _, in := range s.inputs() {
			if in.left--; in.left == 0 && !(bb.train && in.kept()) {
				bb.release(in)
			}
		}
	}
}

// backward runs the steps in reverse from bb.dfeat, writing every parameter gradient.
func (bb *backbone) backward() {
	for i := len(bb.steps) - 1; i >= 0; i-- {
		s := bb.steps[i]
		for _, a := range s.saves() {
			if a.data.none() {
				a.data = bb.pool.get(a.size())
				a.producer.(recomputer).recompute(bb, a.data)
			}
		}
		s.backward(bb)
		if out := s.output(); out != nil && !out.grad.none() {
			bb.pool.put(out.grad)
			out.grad = mem{}
		}
		for _, a := range s.saves() {
			if a.bleft--; a.bleft == 0 {
				bb.release(a)
			}
		}
	}
}

// gradAcc returns a's gradient buffer to add into, zeroed when this is its first part.
func (bb *backbone) gradAcc(a *act) mem {
	if a.grad.none() {
		a.grad = bb.pool.get(a.size())
		bb.be.zero(a.grad)
	}
	return a.grad
}

// gradNew returns a fresh, unzeroed buffer for the whole gradient of a single-reader act.
func (bb *backbone) gradNew(a *act) mem {
	if !a.grad.none() {
		panic("trainer: backbone: gradient of an activation with several readers written whole")
	}
	a.grad = bb.pool.get(a.size())
	return a.grad
}

// inputStep lays the input images out channels-last.
type inputStep struct{ out *act }

func (s *inputStep) inputs() []*act { return nil }
func (s *inputStep) output() *act   { return s.out }
func (s *inputStep) saves() []*act  { return nil }
func (s *inputStep) forward(bb *backbone) {
	bb.be.toNHWC(bb.x, s.out.data, bb.n, bb.c, bb.size*bb.size)
}
func (s *inputStep) backward(*backbone) {}

// convStep is a convolution of parameter w.
type convStep struct {
	l       *convLayer
	w       int
	in, out *act
}

func (s *convStep) inputs() []*act { return []*act{s.in} }
func (s *convStep) output() *act   { return s.out }
func (s *convStep) saves() []*act  { return []*act{s.in} }
func (s *convStep) forward(bb *backbone) {
	bb.be.conv(s.l, s.in.data, bb.w[s.w], s.out.data)
}
func (s *convStep) backward(bb *backbone) {
	var dx mem
	if !s.l.noDX {
		dx = bb.gradAcc(s.in)
	}
	bb.be.convBack(s.l, s.in.data, bb.w[s.w], s.out.grad, dx, bb.dw[s.w])
}

// bnStep is batch norm of parameters gamma and beta, with ReLU and a residual as its layer says.
type bnStep struct {
	l            *bnLayer
	gamma, beta  int
	in, res, out *act
}

func (s *bnStep) inputs() []*act {
	if s.res != nil {
		return []*act{s.in, s.res}
	}
	return []*act{s.in}
}
func (s *bnStep) output() *act { return s.out }

// saves is the input, and the output too when a ReLU after a residual needs its mask.
func (s *bnStep) saves() []*act {
	if s.res != nil && s.l.relu {
		return []*act{s.in, s.out}
	}
	return []*act{s.in}
}

func (s *bnStep) recomputable() bool { return s.res == nil }
func (s *bnStep) recompute(bb *backbone, out mem) {
	bb.be.bnRecompute(s.l, s.in.data, out)
}
func (s *bnStep) forward(bb *backbone) {
	var res mem
	if s.res != nil {
		res = s.res.data
	}
	bb.be.bn(s.l, s.in.data, bb.w[s.gamma], bb.w[s.beta], res, s.out.data)
}

func (s *bnStep) backward(bb *backbone) {
	if !s.in.grad.none() {
		panic("trainer: backbone: batch norm input read twice")
	}
	dy := s.out.grad
	dx := dy // batch norm may write its input gradient over dy
	if s.res != nil {
		if s.l.relu {
			bb.be.reluMask(dy, s.out.data)
		}
		if s.res.grad.none() {
			s.res.grad = dy // the masked gradient is the residual's first part
			dx = bb.pool.get(dy.n)
		} else {
			bb.be.add(s.res.grad, dy)
		}
	}
	s.out.grad = mem{} // handed on, to the input or the residual
	s.in.grad = dx
	bb.be.bnBack(s.l, s.in.data, bb.w[s.gamma], dy, dx, bb.dw[s.gamma], bb.dw[s.beta])
}

// maxPoolStep is the 3×3 stride-2 max-pool of the ImageNet stem.
type maxPoolStep struct {
	g       convGeom
	in, out *act
}

func (s *maxPoolStep) inputs() []*act { return []*act{s.in} }
func (s *maxPoolStep) output() *act   { return s.out }
func (s *maxPoolStep) saves() []*act  { return []*act{s.in, s.out} }
func (s *maxPoolStep) forward(bb *backbone) {
	bb.be.maxPool(s.g, s.in.data, s.out.data)
}
func (s *maxPoolStep) backward(bb *backbone) {
	bb.be.maxPoolBack(s.g, s.in.data, s.out.data, s.out.grad, bb.gradAcc(s.in))
}

// avgPoolStep is the global average pool into the features.
type avgPoolStep struct{ in *act }

func (s *avgPoolStep) inputs() []*act { return []*act{s.in} }
func (s *avgPoolStep) output() *act   { return nil }
func (s *avgPoolStep) saves() []*act  { return nil }
func (s *avgPoolStep) forward(bb *backbone) {
	bb.be.avgPool(s.in.data, bb.feat, s.in.n, s.in.h*s.in.w, s.in.c)
}
func (s *avgPoolStep) backward(bb *backbone) {
	bb.be.avgPoolBack(bb.dfeat, bb.gradNew(s.in), s.in.n, s.in.h*s.in.w, s.in.c)
}
