package trainer

import (
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// errAborted is returned to replicas waiting in the gather when another replica failed.
var errAborted = errors.New("trainer: step aborted by another replica")

// gather is where the replicas meet once per step: each contributes its block of embeddings
// (layout: its online rows, then its target network's rows), the last to arrive computes the
// method's loss (objective) over the global batch and the gradient of every online row, and
// each replica leaves with its own rows of that gradient. This is SimCLR's cross-replica
// concatenation, for every method: every replica sees the negatives (or the batch statistics)
// of all replicas, and the gradients are exact, so R replicas on batch B equal one replica on
// R·B.
//
// When the run spans ranks, the replica that completes this process's set hands the local
// blocks to exchange, which returns the world's blocks (every rank's, in rank order: MPI's
// Allgather) in ONE call before the loss; the loss is then computed over the world's batch,
// identically on every rank (so MoCo's queues, fed from it, stay identical too), and each
// local replica takes its rows of the gradient at its global index.
type gather struct {
	replicas int    // in this process
	lay      layout // lay.replicas: the world's
	obj      objective
	first    int                                 // global index of this process's first replica
	exchange func(local, global []float32) error // nil: this process is the world

	mu      sync.Mutex
	cond    *sync.Cond
	gen     uint64 // step generation, advanced when the loss is ready
	arrived int
	aborted bool
	local   []float32 // this process's blocks (z itself without ranks)
	z, dz   []float32 // global: the world's blocks, and the gradient
	loss    float64
}

func newGather(replicas int, lay layout, obj objective) *gather {
	return newWorldGather(replicas, 0, lay, obj, nil)
}

// newWorldGather is a gather for replicas local replicas, global indexes first... of the
// world of lay.replicas replicas, whose blocks exchange brings together.
func newWorldGather(replicas, first int, lay layout, obj objective, exchange func(local, global []float32) error) *gather {
	g := &gather{replicas: replicas, lay: lay, obj: obj, first: first, exchange: exchange,
		z: make([]float32, lay.replicas*lay.block()), dz: make([]float32, lay.replicas*lay.block())}
	g.local = g.z
	if exchange != nil {
		g.local = make([]float32, replicas*lay.block())
	}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// contribute stores replica r's online (and target) rows, waits for the others, and returns
// the global loss.
func (g *gather) contribute(r int, online, target []float32) (float64, error) {
	blk := g.lay.block()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.aborted {
		return 0, errAborted
	}
	copy(g.local[r*blk:], online)
	copy(g.local[r*blk+g.lay.onlineLen():(r+1)*blk], target)
	g.arrived++
	gen := g.gen
	if g.arrived == g.replicas {
		if g.exchange != nil {
			if err := g.exchange(g.local, g.z); err != nil {
				g.aborted = true
				g.cond.Broadcast()
				return 0, err
			}
		}
		g.loss = g.obj.loss(g.z, g.dz)
		g.arrived = 0
		g.gen++
		g.cond.Broadcast()
		return g.loss, nil
	}
	for g.gen == gen && !g.aborted {
		g.cond.Wait()
	}
	if g.gen == gen {
		return 0, errAborted
	}
	return g.loss, nil
}

// grad returns local replica r's online rows of dL/dz from the last completed step.
func (g *gather) grad(r int) []float32 {
	at := (g.first + r) * g.lay.block()
	return g.dz[at : at+g.lay.onlineLen()]
}

// abort releases every waiting replica with errAborted; reset makes the gather usable again.
func (g *gather) abort() {
	g.mu.Lock()
	g.aborted = true
	g.cond.Broadcast()
	g.mu.Unlock()
}

func (g *gather) reset() {
	g.mu.Lock()
	g.aborted = false
	g.arrived = 0
	g.mu.Unlock()
}

// lossOp is the graph's loss node: it hands the replica's embeddings (the online rows, and
// the target network's when the method has one) to the gather and returns the global loss.
// Its symbolic derivative is gradOp, which returns the gradient the gather computed for the
// online rows; none flows into the target's (the stop-gradient). On a GPU the embeddings are
// copied to the host for the gather, and the replica's rows of the gradient back.
type lossOp struct {
	g      *gather
	r      int
	target bool // a second input: the target network's rows
	be     backend
	z, tz  []float32 // the embeddings on the host, when they live elsewhere
}

var (
	_ G.Op   = (*lossOp)(nil)
	_ G.SDOp = (*lossOp)(nil)
	_ G.Op   = (*lossGradOp)(nil)
)

func (op *lossOp) Arity() int {
	if op.target {
		return 2
	}
	return 1
}
func (op *lossOp) Type() hm.Type {
	if op.target {
		return hm.NewFnType(t2(), t2(), tensor.Float32)
	}
	return hm.NewFnType(t2(), tensor.Float32)
}
func (op *lossOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op *lossOp) Do(vals ...G.Value) (G.Value, error) {
	z := op.be.hostView(op.be.mem(vals[0]), &op.z)
	var target []float32
	if op.target {
		target = op.be.hostView(op.be.mem(vals[1]), &op.tz)
	}
	if err := op.be.err(); err != nil {
		return nil, fmt.Errorf("trainer: replica %d: embeddings: %w", op.r, err)
	}
	loss, err := op.g.contribute(op.r, z, target)
	if err != nil {
		return nil, err
	}
	return G.NewF32(float32(loss)), nil
}
func (op *lossOp) ReturnsPtr() bool      { return false }
func (op *lossOp) CallsExtern() bool     { return false }
func (op *lossOp) OverwritesInput() int  { return -1 }
func (op *lossOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "loss-%p-%d", op.g, op.r) }
func (op *lossOp) Hashcode() uint32      { return hashOf(op) }
func (op *lossOp) String() string        { return fmt.Sprintf("Loss{replica %d}", op.r) }
func (op *lossOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	d[0] = true
	return d
}
func (op *lossOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	// The loss value is an input only to order this op after the loss: the seed gradient
	// does not depend on it, and the tape would be free to run this op first.
	gop := &lossGradOp{g: op.g, r: op.r, be: op.be, out: op.be.alloc(op.g.lay.onlineLen())}
	dz, err := G.ApplyOp(gop, inputs[0], output, grad)
	if err != nil {
		return nil, err
	}
	out := make(G.Nodes, len(inputs))
	out[0] = dz
	return out, nil
}

// lossGradOp returns upstream · dL/dz for its replica, from (z, loss, upstream).
type lossGradOp struct {
	g    *gather
	r    int
	be   backend
	out  mem
	host []float32
}

func (op *lossGradOp) Arity() int { return 3 }
func (op *lossGradOp) Type() hm.Type {
	t := G.TensorType{Dims: 2, Of: tensor.Float32}
	return hm.NewFnType(t, tensor.Float32, tensor.Float32, t)
}
func (op *lossGradOp) InferShape(ns ...G.DimSizer) (tensor.Shape, error) {
	return ns[0].(tensor.Shape).Clone(), nil
}
func (op *lossGradOp) Do(vals ...G.Value) (G.Value, error) {
	up := float32(1)
	if s, ok := vals[2].(*G.F32); ok {
		up = float32(*s)
	}
	src := op.g.grad(op.r)
	op.host = grow(op.host, len(src))
	for i, v := range src {
		op.host[i] = v * up
	}
	op.be.hostWrite(op.out, op.host)
	if err := op.be.err(); err != nil {
		return nil, fmt.Errorf("trainer: replica %d: embeddings' gradient: %w", op.r, err)
	}
	return op.be.value(op.out, vals[0].Shape().Clone()...), nil
}
func (op *lossGradOp) ReturnsPtr() bool      { return false }
func (op *lossGradOp) CallsExtern() bool     { return false }
func (op *lossGradOp) OverwritesInput() int  { return -1 }
func (op *lossGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "loss-grad-%p-%d", op.g, op.r) }
func (op *lossGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *lossGradOp) String() string        { return fmt.Sprintf("LossGrad{replica %d}", op.r) }
