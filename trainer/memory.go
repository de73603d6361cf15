package trainer

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/natssl/natssl/configs"
)

// Memory is an estimate of the bytes that training a config holds at once, from the shapes of
// its model and batch alone: nothing is allocated to compute it.
type Memory struct {
	Params      int64 // parameters, their gradients (each replica's and the sum), the optimizer state and a target network's
	Activations int64 // every replica's forward values, gradients and convolution buffers
	Loss        int64 // the method's loss over the global batch: the gathered embeddings and its matrices (MoCo's queues too)
	Batches     int64 // the loader's batches in flight and the replicas' inputs
	Checkpoint  int64 // a checkpoint being encoded
}

// Total is the sum of the parts.
func (m Memory) Total() int64 { return m.Params + m.Activations + m.Loss + m.Batches + m.Checkpoint }

// loaderMemory is the samples of views the loader holds at most for a global batch of b over
// r replicas: per replica, segments of its stream with room for its part of a batch and an
// eighth more (to replace samples that turn out bad): two queued, one being assembled and one
// it continues into; with one replica a segment is handed out as the batch (one waiting, one
// trained on), with several the parts are copied into batches (one waiting, one being
// assembled, one trained on).
func loaderMemory(b, r int64) int64 {
	per := b / r
	seg := per + max(1, per/8)
	if r == 1 {
		return 5 * seg
	}
	return 4*r*seg + 3*b
}

// EstimateMemory estimates what training cfg needs of this machine's memory, walking the
// shapes of the model that training builds (the same layers as the graphs, without building
// them): the online network on every view group, the method's head (and BYOL's predictor),
// the target network of BYOL and MoCo on the global views, and the method's loss. On GPUs
// (train.devices cuda:N; [auto] counts as the CPU) the activations and the gradients are in
// device memory, which CheckDevices measures: the host keeps the model and the optimizer's
// state for checkpoints, the loss, and the batches, each replica's input in two page-locked
// buffers.
func EstimateMemory(cfg *configs.Config) Memory {
	spec := specOf(cfg)
	r := int64(max(cfg.Replicas(), 1))
	b := int64(cfg.Data.BatchSize)
	on, tg := walkSpec(spec, b/r)
	slots := int64(1) // momentum (sgd, lars)
	if cfg.Train.Optimizer == "adamw" {
		slots = 2
	}
	var sample int64 // the floats of one image's views
	for _, g := range spec.groups {
		sample += int64(g.count) * 3 * int64(g.size) * int64(g.size)
	}
	const f32 = 4
	m := Memory{
		Params:      f32 * (on.params*(1+r+1+slots) + tg.params),
		Activations: f32 * (on.act + on.scratch + tg.act + tg.scratch) * r,
		Loss:        lossMemory(spec),
		Batches:     f32*sample*loaderMemory(b, r) + f32*b*sample,
		Checkpoint:  2 * f32 * (on.params*(1+slots) + tg.params),
	}
	if cfg.Train.UsesCUDA() {
		// The store, the optimizer's host copy, and the summed gradient's copy for a sum
		// over ranks; the target network's store.
		m.Params = f32 * (on.params*(1+slots+1) + tg.params)
		m.Activations = 0
		m.Batches += f32 * b * sample
	}
	return m
}

// lossMemory is the bytes the gather and the method's loss hold over the global batch: the
// gathered blocks and their gradient (float32), the loss's float64 copies and matrices, and
// MoCo's queues.
func lossMemory(spec netSpec) int64 {
	const f32, f64 = 4, 8
	n, v, d := int64(spec.batch), int64(spec.views()), int64(spec.model.ProjDim)
	g := int64(spec.groups[0].count)
	gather := 2 * f32 * v * n * d
	switch spec.method.Name {
	case "byol":
		return 2*f32*(v+g)*n*d + f64*(2*v+1)*n*d
	case "moco":
		q := int64(spec.method.QueueSize)
		return 2*f32*(v+g)*n*d + f32*g*(q*d+n*d) + f64*(q*d+n*q+3*v*n*d)
	case "vicreg", "barlow":
		return gather + f64*(8*n*d+3*d*d)
	}
	return gather + f64*(v*n)*(v*n) + 2*f64*(v*n)*d
}

// shapeWalk follows the shapes of one replica's graph: n images of c×h×w at the current
// layer, and what the layers so far hold (in float32s).
type shapeWalk struct {
	n, c, h, w int64
	params     int64 // parameter count
	act        int64 // values, gradients and per-op buffers kept across the step
	scratch    int64 // the largest buffer the convolutions share
}

func (s *shapeWalk) size() int64 { return s.n * s.c * s.h * s.w }

// conv is convOp: its column matrix, its output twice (channel-major and NCHW), the output's
// gradient and the input's.
func (s *shapeWalk) conv(out, k, stride, pad int64) {
	oh, ow := (s.h+2*pad-k)/stride+1, (s.w+2*pad-k)/stride+1
	cols := s.n * oh * ow
	s.params += out * s.c * k * k
	s.act += s.c*k*k*cols + 3*out*cols + s.size()
	s.scratch = max(s.scratch, out*cols+s.c*k*k*cols)
	s.c, s.h, s.w = out, oh, ow
}

// bn is bnOp (with ReLU or not): its output, the normalised input and the gradient.
func (s *shapeWalk) bn() {
	s.params += 2 * s.c
	s.act += 3 * s.size()
}

// elementwise is an addition or a ReLU: its output and its gradient.
func (s *shapeWalk) elementwise() { s.act += 2 * s.size() }

// maxPool is Gorgonia's 3×3 max-pool at stride 2, padding 1: output, gradient and argmax.
func (s *shapeWalk) maxPool() {
	s.h, s.w = (s.h+2-3)/2+1, (s.w+2-3)/2+1
	s.act += 3 * s.size()
}

func (s *shapeWalk) pool() {
	s.h, s.w = 1, 1
	s.act += 2 * s.size()
}

func (s *shapeWalk) linear(out int64) {
	s.params += s.c*out + out
	s.c = out
	s.act += 2 * s.size()
}

func (s *shapeWalk) basicBlock(out, stride int64) {
	in := *s
	s.conv(out, 3, stride, 1)
	s.bn()
	s.conv(out, 3, 1, 1)
	s.bn()
	s.shortcut(in, out, stride)
}

// shortcut adds a residual block's shortcut from input in (a strided 1×1 convolution and batch
// norm where the shape changes) and the addition and activation that join it.
func (s *shapeWalk) shortcut(in shapeWalk, out, stride int64) {
	if stride != 1 || in.c != out {
		short := in
		short.params, short.act = 0, 0
		short.conv(out, 1, stride, 0)
		short.bn()
		s.params += short.params
		s.act += short.act
		s.scratch = max(s.scratch, short.scratch)
	}
	s.elementwise()
	s.elementwise()
}

func (s *shapeWalk) bottleneck(width, stride int64) {
	in := *s
	out := 4 * width
	s.conv(width, 1, 1, 0)
	s.bn()
	s.conv(width, 3, stride, 1)
	s.bn()
	s.conv(out, 1, 1, 0)
	s.bn()
	s.shortcut(in, out, stride)
}

// walkSpec follows one replica's graph of spec for n images: the online network (a backbone
// per view group over the same parameters, the head over every view, BYOL's predictor) and
// the target network (forward on the global views), whose walk is empty without one.
func walkSpec(spec netSpec, n int64) (online, target shapeWalk) {
	m := spec.model
	for i, g := range spec.groups {
		w := walkBackbone(m, int64(g.count)*n, int64(g.size))
		if i == 0 {
			online = w
			continue
		}
		online.act += w.act // the parameters are the first group's
		online.scratch = max(online.scratch, w.scratch)
		online.n += w.n
	}
	if len(spec.groups) > 1 {
		online.act += 2 * online.size() // the rows joined for the head, and their gradient
	}
	online.head(spec.method.Name, m)
	if spec.method.Name == "byol" {
		online.linear(int64(spec.predHidden))
		online.bn()
		online.linear(int64(m.ProjDim))
	}
	if spec.method.UsesTarget() {
		target = walkBackbone(m, int64(spec.groups[0].count)*n, int64(spec.groups[0].size))
		target.head(spec.method.Name, m)
	}
	return online, target
}

// head is the method's projector (heads.go).
func (s *shapeWalk) head(method string, m configs.Model) {
	switch method {
	case "moco":
		s.linear(int64(m.ProjHidden))
		s.elementwise()
		s.linear(int64(m.ProjDim))
	case "vicreg", "barlow":
		s.linear(int64(m.ProjHidden))
		s.bn()
		s.linear(int64(m.ProjHidden))
		s.bn()
		s.linear(int64(m.ProjDim))
	default:
		s.linear(int64(m.ProjHidden))
		s.bn()
		s.linear(int64(m.ProjDim))
	}
}

// walkModel follows SimCLR's encoder and head that the builder makes (model.go) for n images
// of side size.
func walkModel(m configs.Model, n, size int64) shapeWalk {
	s := walkBackbone(m, n, size)
	s.head("simclr", m)
	return s
}

// walkBackbone follows the backbone to its pooled features for n images of side size.
func walkBackbone(m configs.Model, n, size int64) shapeWalk {
	s := shapeWalk{n: n, c: 3, h: size, w: size}
	s.act += s.size() // the input
	w := int64(m.Width)
	switch m.Backbone {
	case "convnet-small":
		for i, st := range []int64{1, 2, 2, 2} {
			s.conv(w<<i, 3, st, 1)
			s.bn()
		}
	case "resnet18-cifar", "resnet18":
		if m.Backbone == "resnet18-cifar" {
			s.conv(w, 3, 1, 1)
			s.bn()
		} else {
			s.conv(w, 7, 2, 3)
			s.bn()
			s.maxPool()
		}
		for st := int64(0); st < 4; st++ {
			for blk := 0; blk < 2; blk++ {
				stride := int64(1)
				if st > 0 && blk == 0 {
					stride = 2
				}
				s.basicBlock(w<<st, stride)
			}
		}
	case "resnet50":
		s.conv(w, 7, 2, 3)
		s.bn()
		s.maxPool()
		for st, blocks := range []int{3, 4, 6, 3} {
			for blk := 0; blk < blocks; blk++ {
				stride := int64(1)
				if st > 0 && blk == 0 {
					stride = 2
				}
				s.bottleneck(w<<st, stride)
			}
		}
	}
	s.pool()
	return s
}

// MemoryError refuses a config whose model and batch would not fit in the machine's memory.
type MemoryError struct {
	Need    Memory
	Machine int64 // bytes
	Ranks   int   // the ranks of the run on this machine, whose needs Need sums; 0 or 1: one process
}

func (e *MemoryError) Error() string {
	who := "this model and batch need"
	if e.Ranks > 1 {
		who = fmt.Sprintf("this model and batch need, for the %d ranks on this machine,", e.Ranks)
	}
	return fmt.Sprintf("trainer: %s about %s (parameters and optimizer %s, activations %s, loss %s, batches %s), more than this machine's %s: lower data.batch_size, data.image_size or model.width, or spread the batch over more devices",
		who, gib(e.Need.Total()), gib(e.Need.Params), gib(e.Need.Activations), gib(e.Need.Loss), gib(e.Need.Batches+e.Need.Checkpoint), gib(e.Machine))
}

func gib(b int64) string {
	if b < 1<<30 {
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

// CheckMemory refuses cfg with a *MemoryError when EstimateMemory exceeds the memory of this
// machine (its RAM, or the memory limit of its cgroup where lower). Where the machine's memory
// cannot be read, nothing is refused. train.devices [auto] is counted as this machine
// resolves it.
func CheckMemory(cfg *configs.Config) error { return CheckRankMemory(cfg, 1, 1) }

// CheckRankMemory is CheckMemory for a run over size ranks, localSize of which share this
// machine: each rank holds the model, the activations and batches of its share of the batch,
// and the loss over the whole batch.
func CheckRankMemory(cfg *configs.Config, size, localSize int) error {
	avail, ok := MachineMemory()
	if !ok {
		return nil
	}
	cfg = onThisMachine(cfg)
	need := EstimateMemory(cfg)
	if size > 1 {
		share := cfg.Clone()
		share.Data.BatchSize = max(cfg.Data.BatchSize/size, 1)
		loss := need.Loss
		need = EstimateMemory(share)
		need.Loss = loss
	}
	k := int64(max(localSize, 1))
	need = Memory{Params: k * need.Params, Activations: k * need.Activations, Loss: k * need.Loss, Batches: k * need.Batches, Checkpoint: k * need.Checkpoint}
	if need.Total() > avail {
		return &MemoryError{Need: need, Machine: avail, Ranks: int(k)}
	}
	return nil
}

// onThisMachine is cfg with train.devices [auto] resolved as on this machine, where every
// rank resolves it alike (the GPUs, or the CPU); as it is where it cannot be resolved (which
// CheckDevices refuses).
func onThisMachine(cfg *configs.Config) *configs.Config {
	if !cfg.Train.Auto() {
		return cfg
	}
	devices, err := ResolveDevices(cfg.Train.Devices, 0)
	if err != nil {
		return cfg
	}
	c := cfg.Clone()
	c.Train.Devices = devices
	return c
}

// MachineMemory is the memory this process may use: the RAM (MemTotal of /proc/meminfo), or
// the memory limit of its cgroup (v2 memory.max, v1 memory.limit_in_bytes) where lower.
func MachineMemory() (int64, bool) {
	total, ok := memTotal("/proc/meminfo")
	if !ok {
		return 0, false
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && n < total {
			total = n
		}
	}
	return total, true
}

func memTotal(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
