// Package augment turns encoded images into normalised float32 CHW tensors: two random SimCLR
// views per image for training (TwoViews) and a deterministic resize-and-centre-crop for
// evaluation (EvalView).
//
// A Pipeline holds the validated parameters of the config's augment section and is shared by
// all workers; each goroutine owns a Worker (a decode.Decoder plus scratch buffers). All
// randomness comes from the *rand.Rand passed in, so the same stream and the same bytes give
// the same views; SampleRNG derives that stream from (seed, epoch, sample index), which makes
// the augmentation of a sample independent of how many workers there are.
//
// The fast path samples both views' crop boxes from the image header first, decodes with a
// DCT-domain downscale (1/2 or 1/4) when both crops are at least 2S (4S) pixels on every side,
// resamples each crop straight to S×S with a separable antialiased bilinear filter (vertical
// pass first, the flip folded into the horizontal taps), applies colour jitter and grayscale in
// one pass per pixel, a Gaussian blur truncated at 3σ, solarize, and writes normalised CHW
// floats in the last pass. The tests compare it with a plain reference implementation.
//
// Owner: the augment engineer (issue 4).
package augment
