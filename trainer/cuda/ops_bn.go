package cuda

// BN is a batch-norm layer's device buffers, for x of shape N×C×HW (HW 1 after a linear
// layer), optionally followed by ReLU.
type BN struct {
	N, C, HW        int
	ReLU            bool
	Gamma, Beta     DevicePtr // C: scale and shift
	RunMean, RunVar DevicePtr // C: running statistics
	Mean, IStd      DevicePtr // C: the statistics the last forward pass used
	XHat            DevicePtr // N·C·HW: the normalised input, kept for Backward
}

func (b BN) size() int64 { return int64(b.N) * int64(b.C) * int64(b.HW) }

// ForwardTrain normalises x with the batch's statistics into y, and moves the running
// statistics by momentum (the weight of the batch) towards them, with the unbiased variance.
func (b BN) ForwardTrain(r Runner, x, y DevicePtr, momentum, eps float64) error {
	if err := perBlock(r, "bn_stats", b.C, x, b.RunMean, b.RunVar, b.Mean, b.IStd, b.N, b.C, b.HW, momentum, eps); err != nil {
		return err
	}
	return b.apply(r, x, y)
}

// ForwardEval normalises x with the running statistics.
func (b BN) ForwardEval(r Runner, x, y DevicePtr, eps float64) error {
	if err := loop(r, "bn_eval_stats", int64(b.C), b.RunMean, b.RunVar, b.Mean, b.IStd, b.C, eps); err != nil {
		return err
	}
	return b.apply(r, x, y)
}

// ForwardAffine is y = γ·x + β without statistics (the trainer's test models without batch
// statistics).
func (b BN) ForwardAffine(r Runner, x, y DevicePtr) error {
	if err := Fill(r, b.Mean, 0, b.C); err != nil {
		return err
	}
	if err := Fill(r, b.IStd, 1, b.C); err != nil {
		return err
	}
	return b.apply(r, x, y)
}

func (b BN) apply(r Runner, x, y DevicePtr) error {
	return loop(r, "bn_apply", b.size(), x, b.XHat, y, b.Mean, b.IStd, b.Gamma, b.Beta, b.N, b.C, b.HW, b.ReLU)
}

// Backward computes dx, and the gradients of γ and β, from dy and the last forward pass.
// batchStats says that pass normalised with the batch's statistics (ForwardTrain), whose
// own gradient then enters dx.
func (b BN) Backward(r Runner, dy, dx, dgamma, dbeta DevicePtr, batchStats bool) error {
	if err := perBlock(r, "bn_bwd_reduce", b.C, b.XHat, dy, b.Gamma, b.Beta, dgamma, dbeta, b.N, b.C, b.HW, b.ReLU); err != nil {
		return err
	}
	return loop(r, "bn_bwd_apply", b.size(), b.XHat, dy, b.Gamma, b.Beta, b.IStd, dgamma, dbeta, dx,
		b.N, b.C, b.HW, b.ReLU, batchStats)
}
