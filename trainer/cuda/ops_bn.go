package cuda

// BN is a batch-norm layer's device state, for x of Rows × C channels-last, its statistics
// summed in chunks of Chunk rows (an image's plane; 1 after a linear layer), followed by a
// residual sum and ReLU as Residual and ReLU say. The trainer's bnLayer is the reference:
// the passes below are its passes, kernel by kernel.
type BN struct {
	Rows, C, Chunk  int
	ReLU, Residual  bool
	RunMean, RunVar DevicePtr // C: the running statistics
	// C floats each: the statistics and map of the last forward, and the backward's factors.
	Mean, IStd, Scale, Shift, K, MDy, MDyX DevicePtr
	S1                                     DevicePtr // C doubles
	// Partial is scratch of PartialFloats floats; layers that run one at a time may share it.
	Partial DevicePtr
}

// BNStateFloats is the device state of a layer of c channels besides the running
// statistics: seven float vectors and one of doubles, in floats.
func BNStateFloats(c int) int { return 9 * c }

// SetState points the layer's state vectors into st (BNStateFloats(C) floats, 8-byte
// aligned).
func (b *BN) SetState(st DevicePtr) {
	c := b.C
	b.S1 = st // first: doubles need their alignment
	b.Mean, b.IStd, b.Scale, b.Shift = st.At(2*c), st.At(3*c), st.At(4*c), st.At(5*c)
	b.K, b.MDy, b.MDyX = st.At(6*c), st.At(7*c), st.At(8*c)
}

// Chunks is the number of chunks of rows; PartialFloats the scratch the passes need.
func (b BN) Chunks() int        { return (b.Rows + b.Chunk - 1) / b.Chunk }
func (b BN) PartialFloats() int { return 2 * b.Chunks() * b.C }

func (b BN) size() int64 { return int64(b.Rows) * int64(b.C) }

// ForwardTrain normalises x with the batch's statistics into y (adding res for a residual
// layer), and moves the running statistics: keep·old + momentum·batch, with the unbiased
// variance.
func (b BN) ForwardTrain(r Runner, x, gamma, beta, res, y DevicePtr, keep, momentum, eps float64) error {
	p := b.Partial
	if err := loop(r, "chan_sums", int64(b.Chunks())*int64(b.C), x, int64(b.Rows), b.C, b.Chunk, DevicePtr(0), false, p); err != nil {
		return err
	}
	if err := loop(r, "bn_mean", int64(b.C), p, b.Chunks(), b.C, int64(b.Rows), b.S1, b.Mean); err != nil {
		return err
	}
	if err := loop(r, "chan_sums", int64(b.Chunks())*int64(b.C), x, int64(b.Rows), b.C, b.Chunk, b.Mean, true, p); err != nil {
		return err
	}
	if err := loop(r, "bn_train_stats", int64(b.C), p, b.Chunks(), b.C, int64(b.Rows), b.S1, b.IStd,
		b.RunMean, b.RunVar, keep, momentum, eps); err != nil {
		return err
	}
	return b.forward(r, x, gamma, beta, res, y)
}

// ForwardEval normalises x with the running statistics.
func (b BN) ForwardEval(r Runner, x, gamma, beta, res, y DevicePtr, eps float64) error {
	if err := loop(r, "bn_eval_stats", int64(b.C), b.RunMean, b.RunVar, b.Mean, b.IStd, b.C, eps); err != nil {
		return err
	}
	return b.forward(r, x, gamma, beta, res, y)
}

// ForwardAffine is y = γ·x + β without statistics (the trainer's test models without
// batch statistics).
func (b BN) ForwardAffine(r Runner, x, gamma, beta, res, y DevicePtr) error {
	if err := Fill(r, b.Mean, 0, b.C); err != nil {
		return err
	}
	if err := Fill(r, b.IStd, 1, b.C); err != nil {
		return err
	}
	return b.forward(r, x, gamma, beta, res, y)
}

func (b BN) forward(r Runner, x, gamma, beta, res, y DevicePtr) error {
	if err := loop(r, "bn_scale_shift", int64(b.C), gamma, beta, b.Mean, b.IStd, b.Scale, b.Shift, b.C); err != nil {
		return err
	}
	if !b.Residual {
		res = 0
	}
	return b.Apply(r, x, res, y)
}

// Apply writes y = x·scale + shift (+ res) through the ReLU with the last forward's map:
// the forward's last pass, and how a dropped output is recomputed for the backward pass.
func (b BN) Apply(r Runner, x, res, y DevicePtr) error {
	return loop(r, "bn_apply", b.size(), x, y, res, int64(b.Rows), b.C, b.Scale, b.Shift, b.ReLU)
}

// Backward writes dx (which may be dy) and the gradients of γ and β from dy and the last
// forward. For a residual layer dy must already be masked by the ReLU (ReLUMask with the
// layer's output). batchStats says the forward used the batch's statistics, whose own
// gradient then enters dx.
func (b BN) Backward(r Runner, x, gamma, dy, dx, dgamma, dbeta DevicePtr, batchStats bool) error {
	pre := b.ReLU && !b.Residual
	p1, p2 := b.Partial, b.Partial.At(b.Chunks()*b.C)
	if err := loop(r, "bn_back_sums", int64(b.Chunks())*int64(b.C), x, dy, int64(b.Rows), b.C, b.Chunk,
		b.Mean, b.IStd, b.Scale, b.Shift, pre, p1, p2); err != nil {
		return err
	}
	if err := loop(r, "bn_back_stats", int64(b.C), p1, p2, b.Chunks(), b.C, int64(b.Rows), gamma, b.IStd,
		batchStats, dgamma, dbeta, b.K, b.MDy, b.MDyX); err != nil {
		return err
	}
	return loop(r, "bn_back_apply", b.size(), x, dy, dx, int64(b.Rows), b.C, b.Mean, b.IStd, b.Scale, b.Shift,
		b.K, b.MDy, b.MDyX, pre)
}
