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

// gather is where the R replicas meet once per step: each contributes its embeddings (2n × d),
// the last to arrive computes NT-Xent over the global batch and the gradient of every row,
// and each replica leaves with its own block of that gradient. This is SimCLR's cross-replica
// concatenation: every replica sees the negatives of all replicas, and the gradients are
// exact, so R replicas on batch B equal one replica on R·B.
//
// When the run spans ranks, the replica that completes this process's set hands the local
// blocks to exchange, which returns the world's blocks (every rank's, in rank order: MPI's
// Allgather); the loss is then computed over the world's batch, identically on every rank,
// and each local replica takes its rows of the gradient at its global index.
type gather struct {
	replicas, n, d int // local replicas
	world, first   int // replicas of the world, and the global index of this process's first
	temp           float64
	exchange       func(local, global []float32) error // nil: this process is the world

	mu      sync.Mutex
	cond    *sync.Cond
	gen     uint64 // step generation, advanced when the loss is ready
	arrived int
	aborted bool
	local   []float32 // this process's R blocks of 2n rows (z itself without ranks)
	z, dz   []float32 // global: the world's blocks
	loss    float64
}

func newGather(replicas, n, d int, temp float64) *gather {
	return newWorldGather(replicas, replicas, 0, n, d, temp, nil)
}

// newWorldGather is a gather for replicas local replicas, global indexes first... of a world
// of world replicas, whose blocks exchange brings together.
func newWorldGather(replicas, world, first, n, d int, temp float64, exchange func(local, global []float32) error) *gather {
	blk := 2 * n * d
	g := &gather{replicas: replicas, world: world, first: first, n: n, d: d, temp: temp, exchange: exchange,
		z: make([]float32, world*blk), dz: make([]float32, world*blk)}
	g.local = g.z
	if exchange != nil {
		g.local = make([]float32, replicas*blk)
	}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// contribute stores replica r's embeddings, waits for the others, and returns the global loss.
func (g *gather) contribute(r int, z []float32) (float64, error) {
	blk := 2 * g.n * g.d
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.aborted {
		return 0, errAborted
	}
	copy(g.local[r*blk:(r+1)*blk], z)
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
		g.loss = ntXent(g.z, g.world*2*g.n, g.d, g.temp, replicaPairs(g.n), g.dz)
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

// grad returns local replica r's block of dL/dz from the last completed step.
func (g *gather) grad(r int) []float32 {
	blk := 2 * g.n * g.d
	return g.dz[(g.first+r)*blk : (g.first+r+1)*blk]
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

// lossOp is the graph's loss node: it hands the replica's embeddings to the gather and
// returns the global NT-Xent loss. Its symbolic derivative is gradOp, which returns the
// gradient the gather computed. On a GPU the embeddings are copied to the host for the
// gather, and the replica's rows of the gradient back (2n × d floats each way).
type lossOp struct {
	g  *gather
	r  int
	be backend
	z  []float32 // the embeddings on the host, when they live elsewhere
}

var (
	_ G.Op   = (*lossOp)(nil)
	_ G.SDOp = (*lossOp)(nil)
	_ G.Op   = (*lossGradOp)(nil)
)

func (op *lossOp) Arity() int { return 1 }
func (op *lossOp) Type() hm.Type {
	return hm.NewFnType(G.TensorType{Dims: 2, Of: tensor.Float32}, tensor.Float32)
}
func (op *lossOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op *lossOp) Do(vals ...G.Value) (G.Value, error) {
	z := op.be.hostView(op.be.mem(vals[0]), &op.z)
	if err := op.be.err(); err != nil {
		return nil, fmt.Errorf("trainer: replica %d: embeddings: %w", op.r, err)
	}
	loss, err := op.g.contribute(op.r, z)
	if err != nil {
		return nil, err
	}
	return G.NewF32(float32(loss)), nil
}
func (op *lossOp) ReturnsPtr() bool      { return false }
func (op *lossOp) CallsExtern() bool     { return false }
func (op *lossOp) OverwritesInput() int  { return -1 }
func (op *lossOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ntxent-%p-%d", op.g, op.r) }
func (op *lossOp) Hashcode() uint32      { return hashOf(op) }
func (op *lossOp) String() string        { return fmt.Sprintf("NTXent{replica %d}", op.r) }
func (op *lossOp) DiffWRT(int) []bool    { return []bool{true} }
func (op *lossOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	// The loss value is an input only to order this op after the loss: the seed gradient
	// does not depend on it, and the tape would be free to run this op first.
	gop := &lossGradOp{g: op.g, r: op.r, be: op.be, out: op.be.alloc(2 * op.g.n * op.g.d)}
	dz, err := G.ApplyOp(gop, inputs[0], output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dz}, nil
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
func (op *lossGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "ntxent-grad-%p-%d", op.g, op.r) }
func (op *lossGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *lossGradOp) String() string        { return fmt.Sprintf("NTXentGrad{replica %d}", op.r) }
