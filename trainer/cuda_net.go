//go:build cgo

package trainer

import (
	"errors"
	"fmt"
	"time"

	G "gorgonia.org/gorgonia"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/trainer/cuda"
)

// openCUDA gives each replica a queue on its GPU (replicas of one GPU each get their own
// streams, and share its parameters), a CUDA backend and a device input; the net's part on
// the GPUs is a gpuNet. With opt.gpu.count nothing is opened and the allocations are only
// counted; with opt.gpu.sim the host simulation stands in for the GPUs.
func openCUDA(devices []configs.Device, n int, groups []viewGroup, opt buildOptions) (bes []backend, ins []replicaInput, _ deviceNet, err error) {
	gn := &gpuNet{opt: opt.gpu}
	if opt.gpu.count {
		gn.counts = map[int]int64{}
	}
	defer func() {
		if err != nil {
			gn.close()
		}
	}()
	byIndex := map[int]*gpuDevice{}
	for _, d := range devices {
		q, err := openQueue(d.Index, opt.gpu, gn.counts)
		if err != nil {
			return nil, nil, nil, err
		}
		gn.queues = append(gn.queues, q)
		gd := byIndex[d.Index]
		if gd == nil {
			gd = &gpuDevice{index: d.Index, q: q, params: map[*param]*devValue{}}
			byIndex[d.Index] = gd
			gn.devices = append(gn.devices, gd)
		}
		be := newCUDABackend(q, gd)
		in, err := newGPUInput(be, n, groups)
		if err != nil {
			return nil, nil, nil, err
		}
		gn.reps = append(gn.reps, be)
		bes, ins = append(bes, be), append(ins, in)
	}
	return bes, ins, gn, nil
}

// openQueue opens a replica's queue on GPU index.
func openQueue(index int, opt gpuOptions, counts map[int]int64) (gpuQueue, error) {
	switch {
	case opt.count:
		return &countQueue{dev: index, bytes: counts}, nil
	case opt.sim != nil:
		if index >= opt.sim.devices {
			return nil, fmt.Errorf("trainer: cuda:%d: %w: the simulation has %d", index, cuda.ErrNoDevice, opt.sim.devices)
		}
		return &simQueue{sim: opt.sim, dev: index}, nil
	}
	dev, err := openGPU(index)
	if err != nil {
		return nil, err
	}
	q, err := newStreamQueue(dev, opt.precision == configs.PrecisionTF32)
	if err != nil {
		return nil, fmt.Errorf("trainer: %s: %w", dev, err)
	}
	return q, nil
}

// gpuInput is a replica's input on a GPU: every view of its images, the view groups one after
// the other, in two device buffers and two page-locked host buffers, used in turn, so that a
// step's images are copied in while the step before still computes. Each group's views are
// one value of the graph, a slice of the buffer in use.
type gpuInput struct {
	q      gpuQueue
	n      int // images
	groups []viewGroup
	total  int // floats of a step
	x      [2]mem
	vs     []*devValue
	step   int
}

func newGPUInput(b *cudaBackend, n int, groups []viewGroup) (*gpuInput, error) {
	in := &gpuInput{q: b.q, n: n, groups: groups}
	for _, g := range groups {
		in.total += in.floats(g)
	}
	for slot := range in.x {
		in.x[slot] = b.alloc(in.total)
		if _, err := b.q.inputBuffer(slot, in.total); err != nil {
			return nil, errWrap(b.q, err)
		}
	}
	off := 0
	for _, g := range groups {
		f := in.floats(g)
		in.vs = append(in.vs, newDevValue(in.x[0].slice(off, f), g.count*n, 3, g.size, g.size))
		off += f
	}
	return in, b.err()
}

// floats is the size of group g's views of the replica's images.
func (in *gpuInput) floats(g viewGroup) int { return g.count * in.n * 3 * g.size * g.size }

func (in *gpuInput) values() []G.Value {
	vs := make([]G.Value, len(in.vs))
	for i, v := range in.vs {
		vs[i] = v
	}
	return vs
}

// set copies images [lo, lo+n) of every view in: the first group's view 1's n images, then
// its view 2's, ..., then the next group's.
func (in *gpuInput) set(views [][]float32, lo int) error {
	slot := in.step % 2
	in.step++
	if err := in.q.waitInput(slot); err != nil {
		return errWrap(in.q, err)
	}
	buf, err := in.q.inputBuffer(slot, in.total)
	if err != nil {
		return errWrap(in.q, err)
	}
	at, v := 0, 0
	for _, g := range in.groups {
		per := 3 * g.size * g.size
		block := in.n * per
		for range g.count {
			copy(buf[at:at+block], views[v][lo*per:(lo+in.n)*per])
			at += block
			v++
		}
	}
	if err := in.q.uploadInput(in.x[slot].dp(), slot, in.total); err != nil {
		return errWrap(in.q, err)
	}
	off := 0
	for i, g := range in.groups {
		f := in.floats(g)
		in.vs[i].m = in.x[slot].slice(off, f)
		off += f
	}
	return nil
}

// gpuNet is a net's part on its GPUs. The first replica's GPU holds the optimizer's state:
// the other replicas' gradients are added into the first's there, in replica order (from
// another GPU through a staging buffer), the optimizer's kernels update its parameters, and
// the new parameters are copied to the other GPUs, the other replicas' next work waiting
// for them. Streams order all of it: the host waits only to read the embeddings at the
// gather and the running statistics after each step.
type gpuNet struct {
	opt     gpuOptions
	queues  []gpuQueue
	devices []*gpuDevice // in order of first use: the first is the first replica's
	reps    []*cudaBackend
	counts  map[int]int64 // bytes per GPU, when counting

	n       *net
	staging []mem // per parameter, on the first GPU: a gradient from another GPU
	slots   map[string][]mem
	lars    mem
	// rankGrads are the summed gradients on the host, for their sum over ranks.
	rankGrads [][]float32
}

var _ deviceNet = (*gpuNet)(nil)

func (gn *gpuNet) place(n *net) error {
	gn.n = n
	m := gn.reps[0]
	other := len(gn.devices) > 1
	gn.slots = map[string][]mem{}
	for _, p := range n.params {
		size := len(p.data())
		if other {
			gn.staging = append(gn.staging, m.alloc(size))
		}
		for _, s := range slotNames(gn.opt.optimizer) {
			gn.slots[s] = append(gn.slots[s], m.alloc(size))
		}
	}
	gn.lars = m.alloc(cuda.LARSScratchFloats)
	if err := m.err(); err != nil {
		return err
	}
	if gn.opt.count {
		return nil
	}
	// The allocations' zeroing is queued on the compute streams: done before any copy.
	for _, q := range gn.queues {
		if err := q.sync(); err != nil {
			return errWrap(q, err)
		}
	}
	if err := gn.push(nil); err != nil {
		return err
	}
	return gn.pushStats()
}

func (gn *gpuNet) sumGrads() error {
	for _, r := range gn.reps {
		if err := r.q.mark(evBackward); err != nil {
			return errWrap(r.q, err)
		}
	}
	m := gn.reps[0]
	for k, r := range gn.reps[1:] {
		m.fail(m.q.await(r.q, evBackward))
		for i := range gn.n.params {
			dst, src := gn.n.replicas[0].grad(i), gn.n.replicas[k+1].grad(i)
			if r.dev != m.dev {
				m.fail(m.q.copyPeer(gn.staging[i].dp(), m.q, src.dp(), r.q, src.n))
				src = gn.staging[i]
			}
			m.add(dst, src)
		}
	}
	return m.err()
}

// sumRanks copies the first replica's summed gradients to the host, once its sum is done,
// sums them over the ranks there (in rank order, the same bits on every rank), and copies
// the world's sum back before the update reads it.
func (gn *gpuNet) sumRanks(r Ranks) error {
	m := gn.reps[0]
	if gn.rankGrads == nil {
		gn.rankGrads = make([][]float32, len(gn.n.params))
		for i := range gn.rankGrads {
			gn.rankGrads[i] = make([]float32, gn.n.replicas[0].grad(i).n)
		}
	}
	for i, h := range gn.rankGrads {
		if err := m.q.download(h, gn.n.replicas[0].grad(i).dp()); err != nil {
			return errWrap(m.q, err)
		}
	}
	if err := r.Sum(gn.rankGrads...); err != nil {
		return err
	}
	for i, h := range gn.rankGrads {
		if err := m.q.upload(gn.n.replicas[0].grad(i).dp(), h); err != nil {
			return errWrap(m.q, err)
		}
	}
	return nil
}

func (gn *gpuNet) update(o *optimizer, lr float64) error {
	for _, s := range slotNames(o.kind) {
		if len(gn.slots[s]) != len(gn.n.params) {
			return fmt.Errorf("trainer: optimizer %s: the GPU holds the state of %s", o.kind, gn.opt.optimizer)
		}
	}
	m := gn.reps[0]
	q := m.q
	o.t++
	for i, p := range gn.n.params {
		m.fail(o.stepOnDevice(q, p, m.dev.params[p].m, gn.n.replicas[0].grad(i), gn.slots, i, gn.lars, lr))
	}
	for _, d := range gn.devices[1:] {
		for _, p := range gn.n.params {
			src, dst := m.dev.params[p].m, d.params[p].m
			m.fail(q.copyPeer(dst.dp(), d.q, src.dp(), q, src.n))
		}
	}
	m.fail(q.mark(evUpdate))
	if err := m.err(); err != nil {
		return err
	}
	for _, r := range gn.reps[1:] {
		if err := r.q.await(q, evUpdate); err != nil {
			return errWrap(r.q, err)
		}
	}
	return nil
}

// targetStep runs on every GPU: each moves its copy of the target network towards its copy of
// the online parameters, which update left the same on all of them, so that the copies stay
// the same without being sent; the replicas sharing the GPU wait for it before their next
// forward pass reads the target.
func (gn *gpuNet) targetStep(t *target, tau float64) error {
	a, c := emaCoeffs(tau)
	for _, d := range gn.devices {
		for _, pr := range t.pairs {
			tw, ow := d.params[pr[0]].m, d.params[pr[1]].m
			if err := cuda.EMA(d.q, tw.dp(), ow.dp(), a, c, tw.n); err != nil {
				return errWrap(d.q, err)
			}
		}
		if err := d.q.mark(evTarget); err != nil {
			return errWrap(d.q, err)
		}
	}
	for _, r := range gn.reps {
		if r.q == r.dev.q {
			continue
		}
		if err := r.q.await(r.dev.q, evTarget); err != nil {
			return errWrap(r.q, err)
		}
	}
	return nil
}

func (gn *gpuNet) pullStats() error {
	for _, r := range gn.reps {
		if len(r.statsHost) > 0 {
			if err := r.q.sideDownload(r.statsHost, r.stats.dp()); err != nil {
				return errWrap(r.q, err)
			}
		}
	}
	return nil
}

func (gn *gpuNet) pushStats() error {
	for _, r := range gn.reps {
		if len(r.statsHost) > 0 {
			if err := r.q.sideUpload(r.stats.dp(), r.statsHost); err != nil {
				return errWrap(r.q, err)
			}
		}
	}
	return nil
}

// models are the parameters a device holds: the online network's, then the target
// network's when the method has one.
func (gn *gpuNet) models() []*param {
	if gn.n.target == nil {
		return gn.n.params
	}
	return append(append([]*param(nil), gn.n.params...), gn.n.target.store.params...)
}

func (gn *gpuNet) pull(o *optimizer) error {
	m := gn.reps[0]
	for _, p := range gn.models() {
		if err := m.q.download(p.data(), m.dev.params[p].m.dp()); err != nil {
			return errWrap(m.q, err)
		}
	}
	if o == nil {
		return nil
	}
	for s, bufs := range gn.slots {
		for i, b := range bufs {
			if err := m.q.download(o.slots[s][i], b.dp()); err != nil {
				return errWrap(m.q, err)
			}
		}
	}
	return nil
}

func (gn *gpuNet) push(o *optimizer) error {
	models := gn.models()
	for _, d := range gn.devices {
		for _, p := range models {
			if err := d.q.upload(d.params[p].m.dp(), p.data()); err != nil {
				return errWrap(d.q, err)
			}
		}
	}
	if o == nil {
		return nil
	}
	m := gn.reps[0]
	for s, bufs := range gn.slots {
		if o.slots[s] == nil {
			continue
		}
		for i, b := range bufs {
			if err := m.q.upload(b.dp(), o.slots[s][i]); err != nil {
				return errWrap(m.q, err)
			}
		}
	}
	return nil
}

func (gn *gpuNet) hostGrads() ([][]float32, error) {
	r := gn.n.replicas[0]
	out := make([][]float32, len(gn.n.params))
	for i := range out {
		g := r.grad(i)
		out[i] = make([]float32, g.n)
		if err := gn.reps[0].q.download(out[i], g.dp()); err != nil {
			return nil, errWrap(gn.reps[0].q, err)
		}
	}
	return out, nil
}

func (gn *gpuNet) close() error {
	var errs []error
	for _, q := range gn.queues {
		errs = append(errs, q.close())
	}
	gn.queues = nil
	return errors.Join(errs...)
}

// stepOnDevice is step's update of parameter p (the i-th) by the optimizer's kernels: w its
// values, g its gradient, slots the optimizer's state on the device, lars LARS's scratch.
// The step count t is step's: the caller advances it once per step.
func (o *optimizer) stepOnDevice(r cuda.Runner, p *param, w, g mem, slots map[string][]mem, i int, lars mem, lr float64) error {
	wd := o.weightDecay
	if p.kind.excluded() {
		wd = 0
	}
	switch o.kind {
	case "adamw":
		return cuda.AdamW(r, w.dp(), g.dp(), slots["m"][i].dp(), slots["v"][i].dp(), w.n, o.t, lr, wd, adamBeta1, adamBeta2, adamEps)
	case "sgd":
		return cuda.SGD(r, w.dp(), g.dp(), slots["momentum"][i].dp(), w.n, float32(lr), float32(wd), float32(o.momentum))
	case "lars":
		return cuda.LARS(r, w.dp(), g.dp(), slots["momentum"][i].dp(), w.n, lr, wd, o.momentum, larsEta, !p.kind.excluded(), lars.dp())
	}
	return fmt.Errorf("trainer: unknown optimizer %q", o.kind)
}

func (gn *gpuNet) sync() error {
	for _, q := range gn.queues {
		if err := q.sync(); err != nil {
			return errWrap(q, err)
		}
	}
	return nil
}

// gpuSgemmShape is the product gpuNet.sgemmGFLOPS times: a mid-network convolution's, the
// CPU's measure (sgemmGFLOPS in bench.go) with 16 times the rows (tests make it smaller).
var gpuSgemmShape = [3]int{4096, 1152, 1024}

// sgemmGFLOPS measures cuBLAS on each replica's queue at once, on gpuSgemmShape, for about
// half a second, in the replicas' precision.
func (gn *gpuNet) sgemmGFLOPS() (float64, string, error) {
	m, k, n := gpuSgemmShape[0], gpuSgemmShape[1], gpuSgemmShape[2]
	type mats struct{ a, b, c mem }
	ms := make([]mats, len(gn.reps))
	for i, r := range gn.reps {
		ms[i] = mats{r.alloc(m * k), r.alloc(k * n), r.alloc(m * n)}
		if err := r.err(); err != nil {
			return 0, "", err
		}
	}
	run := func(reps int) error {
		for range reps {
			for i, r := range gn.reps {
				r.gemm(false, false, m, n, k, ms[i].a, k, ms[i].b, n, 0, ms[i].c, n)
			}
		}
		for _, r := range gn.reps {
			if err := r.err(); err != nil {
				return err
			}
		}
		return gn.sync()
	}
	if err := run(1); err != nil {
		return 0, "", err
	}
	reps, t0 := 0, time.Now()
	for time.Since(t0) < 500*time.Millisecond {
		if err := run(10); err != nil {
			return 0, "", err
		}
		reps += 10
	}
	gflops := 2 * float64(m) * float64(k) * float64(n) * float64(reps*len(gn.reps)) / time.Since(t0).Seconds() / 1e9
	name := "cuBLAS"
	if drv, err := cudaDriver(); err == nil {
		for _, l := range drv.Libraries() {
			if l.Name == "cublas" {
				name = "cuBLAS " + l.Version
			}
		}
	}
	if gn.opt.precision == configs.PrecisionTF32 {
		name += " (TF32)"
	}
	return gflops, name, nil
}
