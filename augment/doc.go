// Package augment turns encoded images into normalised float32 CHW tensors: random views per
// image for training (Views: two SimCLR views, or the groups of multi-crop, each group its own
// size and crop scale; TwoViews: the two views alone) and a deterministic resize-and-centre-crop
// for evaluation (EvalView).
//
// A Pipeline holds the validated parameters of the config's augment section and is shared by
// all workers; each goroutine owns a Worker (a decode.Decoder plus scratch buffers). All
// randomness comes from the *rand.Rand passed in, so the same stream and the same bytes give
// the same views; SampleRNG derives that stream from (seed, epoch, sample index), which makes
// the augmentation of a sample independent of how many workers there are. Views draws one seed
// from it per view, in order, so one view's draws never shift another's, and without multi-crop
// its two views are bit for bit TwoViews'.
//
// Per view, in torchvision's order: random resized crop (torchvision's ten tries, then the
// centred fallback), horizontal flip, colour jitter with probability p (brightness, contrast,
// saturation, hue in a random order, each clamped to the 8-bit range as PIL does), random
// grayscale (ITU-R 601 luma), Gaussian blur (kernel about 10% of the side, odd, truncated at
// 3σ, reflected edges), solarize (values of 128 and more inverted), normalisation with Mean
// and Std into float32 CHW. Values stay in float between the steps (PIL rounds to 8 bits).
//
// The fast path samples both views' crop boxes from the image header first, decodes only the
// part of the image under the two crops (decode.DecodeRegion) with a DCT-domain downscale (1/2
// or 1/4) when both crops are at least 2S (4S) pixels on every side (EvalView: when the shorter
// side is at least 4S (8S), for closeness to torchvision), resamples each crop straight to S×S
// with a separable antialiased bilinear filter (vertical pass first, the flip folded into the
// horizontal taps), applies colour jitter and grayscale row by row, a Gaussian blur truncated at
// 3σ, solarize, and writes normalised CHW floats in the last pass. The tests compare it with a
// plain reference implementation (within 0.03/255 on the same decoded pixels), measure what
// DCT scaling costs against full resolution (about 0.4–0.6/255 on average on photos), and
// compare EvalView with torchvision's Resize + CenterCrop (about 0.3/255).
//
// The pixel passes (resample, colour, blur, normalise) exist twice: in Go (resampleGo,
// colourGo, gaussianBlurGo, normaliseGo) and, in the cgo build that links libjpeg-turbo, in C
// written for the compiler to vectorise (kernels.c and kernels.h, called from kernels_c.go),
// 1.5–3× faster per pass. The C files carry the same build constraint as kernels_c.go, so the
// pure-Go build (-tags noturbojpeg, or CGO_ENABLED=0) compiles none of them. Kernels names the
// build's passes; in the cgo build a test holds the C passes to the Go ones.
package augment
