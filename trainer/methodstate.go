package trainer

import (
	"fmt"
	"strconv"
)

// The method's part of a checkpoint: the target network's parameters and MoCo's queues and
// pointer, so that a resumed run continues the same EMA and compares with the same keys.

// methodTensors lists the method's state as checkpoint tensors, and its scalar state.
func (n *net) methodTensors() ([]TensorInfo, map[string][]float32, *MethodState) {
	if n.target == nil {
		return nil, nil, nil
	}
	var infos []TensorInfo
	data := map[string][]float32{}
	for _, p := range n.target.store.params {
		name := "target/param/" + p.name
		infos = append(infos, TensorInfo{Name: name, Shape: append([]int(nil), p.value.Shape()...)})
		data[name] = p.data()
	}
	st := &MethodState{Name: n.spec.method.Name}
	if q, ok := n.gather.obj.(*mocoLoss); ok {
		for t, buf := range q.queue {
			name := "moco/queue/" + strconv.Itoa(t)
			infos = append(infos, TensorInfo{Name: name, Shape: []int{q.size, q.l.dTarget}})
			data[name] = buf
		}
		st.QueuePtr = q.ptr
	}
	return infos, data, st
}

// restoreMethod puts a checkpoint's method state into n. A checkpoint of another method (a
// resume forced past the change) has none: the target starts as a copy of the restored online
// network and MoCo's queues as at a fresh start, as a new run's do; log says so.
func (n *net) restoreMethod(c *Checkpoint, log func(string)) error {
	if n.target == nil {
		return nil
	}
	if h := c.Header.Method; h == nil || h.Name != n.spec.method.Name {
		for _, pr := range n.target.pairs {
			copy(pr[0].data(), pr[1].data())
		}
		log(fmt.Sprintf("resume: the checkpoint holds no %s state; its target network starts as a copy of the online one", n.spec.method.Name))
		return nil
	}
	for _, p := range n.target.store.params {
		if err := copyTensor(p.data(), c, "target/param/"+p.name); err != nil {
			return err
		}
	}
	if q, ok := n.gather.obj.(*mocoLoss); ok {
		for t, buf := range q.queue {
			if err := copyTensor(buf, c, "moco/queue/"+strconv.Itoa(t)); err != nil {
				return err
			}
		}
		if p := c.Header.Method.QueuePtr; p < 0 || p >= q.size || p%q.l.images() != 0 {
			return fmt.Errorf("trainer: checkpoint %s: queue pointer %d for a queue of %d and a batch of %d", c.Path, p, q.size, q.l.images())
		}
		q.ptr = c.Header.Method.QueuePtr
	}
	return nil
}
