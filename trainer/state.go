package trainer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// modelTensors lists the parameters and batch-norm statistics of a store as checkpoint
// tensors (names and shapes) with their data.
func modelTensors(s *paramStore) ([]TensorInfo, map[string][]float32) {
	var infos []TensorInfo
	data := map[string][]float32{}
	for _, p := range s.params {
		name := "param/" + p.name
		infos = append(infos, TensorInfo{Name: name, Shape: append([]int(nil), p.value.Shape()...)})
		data[name] = p.data()
	}
	for _, b := range s.bns {
		for _, x := range []struct {
			suffix string
			v      []float32
		}{{"/mean", b.mean}, {"/var", b.vr}} {
			name := "bn/" + b.name + x.suffix
			infos = append(infos, TensorInfo{Name: name, Shape: []int{b.channels}})
			data[name] = x.v
		}
	}
	return infos, data
}

// snapshot captures the training state after t.step, with the world's loader position pos.
func (t *training) snapshot(pos Position) (Header, map[string][]float32, error) {
	yaml, err := t.cfg.YAML()
	if err != nil {
		return Header{}, nil, err
	}
	if err := t.net.pull(t.optim); err != nil {
		return Header{}, nil, fmt.Errorf("trainer: checkpoint at step %d: %w", t.step, err)
	}
	infos, data := modelTensors(t.net.store)
	mInfos, mData, mState := t.net.methodTensors()
	infos = append(infos, mInfos...)
	for k, v := range mData {
		data[k] = v
	}
	for _, slot := range slotNames(t.optim.kind) {
		for i, p := range t.net.params {
			name := "opt/" + slot + "/" + p.name
			infos = append(infos, TensorInfo{Name: name, Shape: append([]int(nil), p.value.Shape()...)})
			data[name] = t.optim.slots[slot][i]
		}
	}
	h := Header{
		Version: FormatVersion, RunID: t.opt.RunID, ConfigHash: ConfigHash(t.cfg, sizeOf(t.ranks)),
		ConfigYAML: string(yaml), MathConfig: MathConfig(t.cfg, sizeOf(t.ranks)),
		Step: t.step, Epoch: t.epoch, TotalSteps: t.total, Position: pos, Seed: t.cfg.Run.Seed,
		Optimizer: OptimizerState{Kind: t.optim.kind, Steps: t.optim.t, Momentum: t.optim.momentum,
			WeightDecay: t.optim.weightDecay},
		Loss: t.loss, Method: mState, Tensors: infos,
	}
	return h, data, nil
}

// restoreModel copies a checkpoint's parameters and statistics into a store built for the
// same architecture.
func restoreModel(s *paramStore, c *Checkpoint) error {
	for _, p := range s.params {
		if err := copyTensor(p.data(), c, "param/"+p.name); err != nil {
			return err
		}
	}
	for _, b := range s.bns {
		if err := copyTensor(b.mean, c, "bn/"+b.name+"/mean"); err != nil {
			return err
		}
		if err := copyTensor(b.vr, c, "bn/"+b.name+"/var"); err != nil {
			return err
		}
	}
	return nil
}

func copyTensor(dst []float32, c *Checkpoint, name string) error {
	src, ok := c.Tensors[name]
	if !ok {
		return fmt.Errorf("trainer: checkpoint %s has no tensor %s (a different model?)", c.Path, name)
	}
	if len(src) != len(dst) {
		return fmt.Errorf("trainer: checkpoint %s: tensor %s has %d values, the model has %d", c.Path, name, len(src), len(dst))
	}
	copy(dst, src)
	return nil
}

// restore puts a checkpoint's model, optimizer and progress into t.
func (t *training) restore(c *Checkpoint) error {
	if err := restoreModel(t.net.store, c); err != nil {
		return err
	}
	if err := t.net.loadBNStats(); err != nil {
		return err
	}
	if err := t.net.restoreMethod(c, func(s string) { fmt.Fprintln(t.log, s) }); err != nil {
		return err
	}
	h := c.Header
	if h.Optimizer.Kind == t.optim.kind {
		for _, slot := range slotNames(t.optim.kind) {
			for i, p := range t.net.params {
				if err := copyTensor(t.optim.slots[slot][i], c, "opt/"+slot+"/"+p.name); err != nil {
					return err
				}
			}
		}
		t.optim.t = h.Optimizer.Steps
	} else {
		// Only reachable with Force: a new optimizer starts from fresh state.
		fmt.Fprintf(t.log, "resume: optimizer changed from %s to %s; its state starts afresh\n", h.Optimizer.Kind, t.optim.kind)
	}
	if err := t.net.push(t.optim); err != nil {
		return fmt.Errorf("trainer: resume from %s: %w", c.Path, err)
	}
	t.step, t.epoch, t.pos, t.loss = h.Step, h.Epoch, h.Position, h.Loss
	t.lastCkpt, t.lastCkStep, t.ckptTaken = c.Path, h.Step, true
	return nil
}
