package cuda

import "math"

// The optimizer steps, one parameter tensor of n floats per call, with the trainer's CPU
// maths (optim.go); the trainer passes its hyper-parameters.

// SGD is PyTorch's SGD with momentum, decay added to the gradient.
func SGD(r Runner, w, g, buf DevicePtr, n int, lr, wd, momentum float32) error {
	return loop(r, "sgd", int64(n), w, g, buf, int64(n), lr, wd, momentum)
}

// AdamW is PyTorch's AdamW at update t (1 for the first): decoupled decay, then the
// bias-corrected Adam step.
func AdamW(r Runner, w, g, m, v DevicePtr, n int, t int64, lr, wd, beta1, beta2, eps float64) error {
	c1 := 1 - math.Pow(beta1, float64(t))
	c2 := 1 - math.Pow(beta2, float64(t))
	return loop(r, "adamw", int64(n), w, g, m, v, int64(n), beta1, beta2, eps, lr/c1, math.Sqrt(c2), float32(1-lr*wd))
}

// larsBlocks caps the blocks of the LARS norms, and so the partial sums LARSScratchFloats holds.
const larsBlocks = 64

// LARSScratchFloats is the size of the scratch LARS needs: the norms' partial sums (doubles)
// and the step's scale.
const LARSScratchFloats = 2*2*larsBlocks + 1

// LARS is SimCLR's LARS: the decayed gradient scaled by η·|w|/|g| when adapt is set (weights;
// batch-norm and bias parameters take the plain momentum step), then momentum. The scale
// stays on the device: nothing is read back.
func LARS(r Runner, w, g, buf DevicePtr, n int, lr, wd, momentum, eta float64, adapt bool, scratch DevicePtr) error {
	if n <= 0 {
		return nil
	}
	scale := scratch.At(4 * larsBlocks)
	if adapt {
		blocks := int(min((int64(n)+reduceThreads-1)/reduceThreads, larsBlocks))
		if err := run(r, "lars_partial", Dim3{X: uint32(blocks)}, Dim3{X: reduceThreads}, w, g, int64(n), wd, scratch); err != nil {
			return err
		}
		if err := run(r, "lars_scale", Dim3{X: 1}, Dim3{X: 1}, scratch, blocks, scale, lr, eta); err != nil {
			return err
		}
	} else if err := Fill(r, scale, float32(lr), 1); err != nil {
		return err
	}
	return loop(r, "lars_update", int64(n), w, g, buf, int64(n), scale, float32(wd), float32(momentum))
}
