package augment

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/decode"
)

// Mean and Std are the ImageNet channel statistics (RGB, on a 0–1 scale) that every view is
// normalised with, in training and in evaluation.
var (
	Mean = [3]float32{0.485, 0.456, 0.406}
	Std  = [3]float32{0.229, 0.224, 0.225}
)

// SampleRNG returns the random stream for one sample of one epoch. It depends only on its
// arguments, so a sample is augmented the same way whichever worker handles it.
func SampleRNG(seed int64, epoch int, index int64) *rand.Rand {
	a := splitmix(uint64(seed) ^ splitmix(uint64(int64(epoch))+0x632be59bd9b4e019))
	b := splitmix(uint64(index) ^ splitmix(a))
	return rand.New(rand.NewPCG(a, b))
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Pipeline is the validated augmentation recipe for views of Size×Size pixels (and, with
// multi-crop, the other sizes of its view groups). It is immutable and shared by all workers.
type Pipeline struct {
	cfg   configs.Augment
	size  int
	blur  blurSize
	views []ViewSpec // what Views draws per image
	// scaleAt: decode at 1/2 when every crop side is at least 2*scaleAt*size pixels, at 1/4 from
	// 4*scaleAt*size; 0 never downscales (see dctScale).
	scaleAt int
}

// ViewSpec is one view drawn from every image: a random resized crop of Scale (the area
// range) resized to Size × Size pixels.
type ViewSpec struct {
	Size  int
	Scale [2]float64
}

// New validates cfg and returns the pipeline producing size×size views: two of
// cfg.CropScale per image, or the groups of cfg.Crops (whose first group is at size).
func New(cfg configs.Augment, size int) (*Pipeline, error) {
	if size < 1 || size > 4096 {
		return nil, fmt.Errorf("augment: image size %d: want 1..4096", size)
	}
	if err := validate(cfg); err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg, size: size, blur: newBlurSize(size), scaleAt: 1}
	if len(cfg.Crops) == 0 {
		p.views = []ViewSpec{{size, cfg.CropScale}, {size, cfg.CropScale}}
	}
	for i, g := range cfg.Crops {
		if g.Size < 1 || g.Size > 4096 || g.Count < 1 || !(g.Scale[0] > 0 && g.Scale[0] <= g.Scale[1] && g.Scale[1] <= 1) {
			return nil, fmt.Errorf("augment: augment.crops group %d (size %d, count %d, scale %v): want a size in 1..4096, a count >= 1, 0 < min <= max <= 1", i+1, g.Size, g.Count, g.Scale)
		}
		for range g.Count {
			p.views = append(p.views, ViewSpec{g.Size, g.Scale})
		}
	}
	return p, nil
}

// Size is the side of the global views (of every view without multi-crop) in pixels.
func (p *Pipeline) Size() int { return p.size }

// Views lists the views Worker.Views draws per image, in order.
func (p *Pipeline) Views() []ViewSpec { return append([]ViewSpec(nil), p.views...) }

// blurFor is the blur kernel size for views of side s.
func (p *Pipeline) blurFor(s int) blurSize {
	if s == p.size {
		return p.blur
	}
	return newBlurSize(s)
}

func validate(c configs.Augment) error {
	bad := func(key string, v any, want string) error {
		return fmt.Errorf("augment: augment.%s = %v: want %s", key, v, want)
	}
	if !(c.CropScale[0] > 0 && c.CropScale[0] <= c.CropScale[1] && c.CropScale[1] <= 1) {
		return bad("crop_scale", c.CropScale, "0 < min <= max <= 1")
	}
	if !(c.CropRatio[0] > 0 && c.CropRatio[0] <= c.CropRatio[1] && !math.IsInf(c.CropRatio[1], 0)) {
		return bad("crop_ratio", c.CropRatio, "0 < min <= max")
	}
	probs := []struct {
		key string
		v   float64
	}{{"flip_p", c.FlipP}, {"jitter.p", c.Jitter.P}, {"grayscale_p", c.GrayscaleP},
		{"blur.p", c.Blur.P}, {"solarize_p", c.SolarizeP}}
	for _, p := range probs {
		if !(p.v >= 0 && p.v <= 1) {
			return bad(p.key, p.v, "a probability in [0, 1]")
		}
	}
	strengths := []struct {
		key string
		v   float64
	}{{"jitter.brightness", c.Jitter.Brightness}, {"jitter.contrast", c.Jitter.Contrast},
		{"jitter.saturation", c.Jitter.Saturation}}
	for _, s := range strengths {
		if !(s.v >= 0 && s.v < 1e6) {
			return bad(s.key, s.v, "a strength >= 0")
		}
	}
	if !(c.Jitter.Hue >= 0 && c.Jitter.Hue <= 0.5) {
		return bad("jitter.hue", c.Jitter.Hue, "0 <= hue <= 0.5")
	}
	if c.Blur.P > 0 && !(c.Blur.Sigma[0] > 0 && c.Blur.Sigma[0] <= c.Blur.Sigma[1] && c.Blur.Sigma[1] < 1e3) {
		return bad("blur.sigma", c.Blur.Sigma, "0 < min <= max")
	}
	return nil
}

// Worker decodes and augments images for one goroutine. It is not safe for concurrent use.
type Worker struct {
	p     *Pipeline
	dec   *decode.Decoder
	img   decode.Image
	row   []float32 // one vertically resampled source row
	hwc   []float32 // the view being built, interleaved RGB on a 0–255 scale
	tmp   []float32 // blur scratch
	tx    taps
	ty    taps
	pcg   rand.PCG   // each view's own stream, seeded from the sample's
	vr    *rand.Rand // draws from pcg
	seeds []uint64
	vp    []viewParams
}

// sampleViews draws both views' parameters for TwoViews.
func (w *Worker) sampleViews(rng *rand.Rand, iw, ih int, vp *[2]viewParams) {
	s := ViewSpec{w.p.size, w.p.cfg.CropScale}
	w.drawViews(rng, iw, ih, []ViewSpec{s, s}, vp[:])
}

// drawViews draws the parameters of one view per spec. Each view gets its own stream seeded
// from a draw of rng, in order, so one view's draws (which depend on what it applies) never
// shift another's.
func (w *Worker) drawViews(rng *rand.Rand, iw, ih int, specs []ViewSpec, vp []viewParams) {
	w.seeds = w.seeds[:0]
	for range specs {
		w.seeds = append(w.seeds, rng.Uint64())
	}
	if w.vr == nil {
		w.vr = rand.New(&w.pcg)
	}
	for i, spec := range specs {
		w.pcg.Seed(w.seeds[i], 0x853c49e6748fea9b)
		vp[i] = w.p.sampleView(w.vr, iw, ih, spec)
	}
}

// NewWorker returns a worker with its own decoder and scratch buffers.
func (p *Pipeline) NewWorker() *Worker {
	return &Worker{p: p, dec: decode.NewDecoder()}
}

// Close releases the worker's decoder.
func (w *Worker) Close() { w.dec.Close() }

// TwoViews decodes data once and writes two independently augmented views into v1 and v2,
// each 3*S*S floats (S the pipeline's size), CHW, normalised with Mean and Std, whatever the
// pipeline's view groups. Undecodable data gives an error wrapping decode.ErrCorrupt.
func (w *Worker) TwoViews(data []byte, rng *rand.Rand, v1, v2 []float32) error {
	s := ViewSpec{w.p.size, w.p.cfg.CropScale}
	return w.draw(data, rng, []ViewSpec{s, s}, [][]float32{v1, v2})
}

// Views decodes data once and writes the pipeline's views (Pipeline.Views) into dst, one
// buffer of 3·size² floats per view, CHW, normalised with Mean and Std. Without multi-crop
// they are exactly TwoViews' two views.
func (w *Worker) Views(data []byte, rng *rand.Rand, dst [][]float32) error {
	return w.draw(data, rng, w.p.views, dst)
}

// draw writes one view per spec from one decode of data.
func (w *Worker) draw(data []byte, rng *rand.Rand, specs []ViewSpec, dst [][]float32) error {
	if len(dst) != len(specs) {
		return fmt.Errorf("augment: %d view buffers for %d views", len(dst), len(specs))
	}
	for i, s := range specs {
		if len(dst[i]) != 3*s.Size*s.Size {
			return fmt.Errorf("augment: view %d buffer holds %d floats: want %d", i+1, len(dst[i]), 3*s.Size*s.Size)
		}
	}
	iw, ih, err := w.dec.Config(data)
	if err != nil {
		return fmt.Errorf("augment: %w", err)
	}
	if cap(w.vp) < len(specs) {
		w.vp = make([]viewParams, len(specs))
	}
	vp := w.vp[:len(specs)]
	w.drawViews(rng, iw, ih, specs, vp)
	// The DCT scale every view allows (the scale falls as a view's crop side over its own
	// output side does), and only the part of the image under the crops is decoded.
	denom := 4
	r := image.Rectangle{}
	for i := range vp {
		denom = min(denom, dctScale(data, w.p.scaleAt, min(vp[i].cw, vp[i].ch), vp[i].size))
	}
	for i := range vp {
		r = r.Union(vp[i].box(denom))
	}
	if err := w.dec.DecodeRegion(data, denom, r, &w.img); err != nil {
		return fmt.Errorf("augment: %w", err)
	}
	for i := range vp {
		w.render(&vp[i], denom, dst[i])
	}
	return nil
}

// EvalView writes the evaluation transform of data into dst (3*size*size floats, CHW):
// the shorter side resized to size with antialiasing, a centre crop of size×size, and the
// same normalisation as training. It does not depend on the pipeline's size.
func (w *Worker) EvalView(data []byte, size int, dst []float32) error {
	if size < 1 || len(dst) != 3*size*size {
		return fmt.Errorf("augment: eval view buffer holds %d floats: want 3*%d*%d", len(dst), size, size)
	}
	iw, ih, err := w.dec.Config(data)
	if err != nil {
		return fmt.Errorf("augment: %w", err)
	}
	x0, y0, x1, y1 := evalBox(iw, ih, size)
	denom := dctScale(data, evalScaleAt, min(iw, ih), size)
	d := float64(denom)
	sw, sh := decode.ScaledSize(iw, ih, denom)
	w.tx.make(x0/d, x1/d, 0, sw, size, false)
	w.ty.make(y0/d, y1/d, 0, sh, size, false)
	// Only the pixels under the taps are decoded.
	if err := w.dec.DecodeRegion(data, denom, image.Rect(w.tx.lo, w.ty.lo, w.tx.hi, w.ty.hi), &w.img); err != nil {
		return fmt.Errorf("augment: %w", err)
	}
	w.hwc = grow(w.hwc, 3*size*size)
	w.resample()
	normalise(w.hwc, dst, size*size, false)
	return nil
}

// evalBox is torchvision's Resize(size) + CenterCrop(size) expressed as a box in the source.
func evalBox(iw, ih, size int) (x0, y0, x1, y1 float64) {
	ow, oh := size, size
	if iw <= ih {
		oh = int(float64(size) * float64(ih) / float64(iw))
	} else {
		ow = int(float64(size) * float64(iw) / float64(ih))
	}
	ow, oh = max(ow, size), max(oh, size)
	left := math.RoundToEven(float64(ow-size) / 2)
	top := math.RoundToEven(float64(oh-size) / 2)
	sx, sy := float64(iw)/float64(ow), float64(ih)/float64(oh)
	return left * sx, top * sy, (left + float64(size)) * sx, (top + float64(size)) * sy
}

// dctScaling says whether the decoder scales in the DCT domain; the pure-Go build would
// decode at full size and average blocks, which only adds work.
const dctScaling = decode.Backend == "libjpeg-turbo"

// evalScaleAt is dctScale's threshold for EvalView: evaluation decodes each image once, so
// it buys closeness to the full-resolution transform (within a third of a level on average)
// with a higher threshold than training's.
const evalScaleAt = 4

// dctScale picks the DCT-domain downscale for a JPEG whose regions of interest have at
// least side pixels on every side and become size pixels: 1/2 or 1/4 only while scaleAt
// decoded pixels still fall on each output pixel, so that the antialiasing filter still
// averages over several of them; scaleAt 0 never downscales.
func dctScale(data []byte, scaleAt, side, size int) int {
	switch {
	case scaleAt == 0 || !dctScaling || !isJPEG(data):
		return 1
	case side >= 4*scaleAt*size:
		return 4
	case side >= 2*scaleAt*size:
		return 2
	}
	return 1
}

func isJPEG(data []byte) bool { return len(data) >= 2 && data[0] == 0xFF && data[1] == 0xD8 }

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}
