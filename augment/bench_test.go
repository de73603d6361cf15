package augment

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/decode"
)

// benchPhotos is the benchmark set: the JPEGs in $NATSSL_PHOTOS (build it with
// scripts/make-photos.sh: iNat-like, max side 500, quality 90) or else the fixtures.
func benchPhotos(b *testing.B) [][]byte {
	b.Helper()
	var files []string
	if dir := os.Getenv("NATSSL_PHOTOS"); dir != "" {
		files, _ = filepath.Glob(filepath.Join(dir, "*.jpg"))
		if len(files) == 0 {
			b.Fatalf("NATSSL_PHOTOS=%s holds no *.jpg", dir)
		}
	} else {
		for _, f := range fixtures {
			files = append(files, filepath.Join("testdata", f))
		}
	}
	var out [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// cpuTime is the CPU time this process has used: on a shared machine, images per CPU-second
// is a steadier per-core figure than images per wall-clock second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type rate struct {
	wall time.Time
	cpu  time.Duration
}

func startRate() rate { return rate{time.Now(), cpuTime()} }

// report adds img/s (wall clock) and img/cpu-s (per core, what a dedicated core would do).
func (r rate) report(b *testing.B) {
	b.ReportMetric(float64(b.N)/time.Since(r.wall).Seconds(), "img/s")
	if cpu := cpuTime() - r.cpu; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "img/cpu-s")
	}
}

// peerRecipe is the torchvision peer's (../shared/peers/torch_loader.py) recipe, so that the
// two are compared on the same work.
func peerRecipe() configs.Augment {
	return configs.Augment{
		CropScale: [2]float64{0.08, 1}, CropRatio: [2]float64{3.0 / 4, 4.0 / 3}, FlipP: 0.5,
		Jitter:     configs.Jitter{Brightness: 0.4, Contrast: 0.4, Saturation: 0.4, Hue: 0.1, P: 0.8},
		GrayscaleP: 0.2, Blur: configs.Blur{P: 0.5, Sigma: [2]float64{0.1, 2}},
	}
}

// BenchmarkTwoViews: one decode and two SimCLR views per image, on one goroutine (per core).
func BenchmarkTwoViews(b *testing.B) {
	photos := benchPhotos(b)
	for _, size := range []int{96, 224} {
		for _, scaleAt := range []int{1, 2, 0} {
			name := fmt.Sprint(size)
			if scaleAt != 1 {
				name += fmt.Sprintf("/scaleAt%d", scaleAt)
			}
			b.Run(name, func(b *testing.B) {
				p, err := New(peerRecipe(), size)
				if err != nil {
					b.Fatal(err)
				}
				p.scaleAt = scaleAt
				w := p.NewWorker()
				defer w.Close()
				v1, v2 := make([]float32, 3*size*size), make([]float32, 3*size*size)
				b.ResetTimer()
				r := startRate()
				for i := 0; b.Loop(); i++ {
					if err := w.TwoViews(photos[i%len(photos)], SampleRNG(1, 0, int64(i)), v1, v2); err != nil {
						b.Fatal(err)
					}
				}
				r.report(b)
			})
		}
	}
}

func BenchmarkEvalView(b *testing.B) {
	photos := benchPhotos(b)
	for _, size := range []int{96, 224} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			p, _ := New(simclr(), size)
			w := p.NewWorker()
			defer w.Close()
			dst := make([]float32, 3*size*size)
			r := startRate()
			for i := 0; b.Loop(); i++ {
				if err := w.EvalView(photos[i%len(photos)], size, dst); err != nil {
					b.Fatal(err)
				}
			}
			r.report(b)
		})
	}
}

// BenchmarkDecode is the decode-only ceiling at each DCT scale.
func BenchmarkDecode(b *testing.B) {
	photos := benchPhotos(b)
	for _, denom := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("1_%d", denom), func(b *testing.B) {
			d := decode.NewDecoder()
			defer d.Close()
			var m decode.Image
			r := startRate()
			for i := 0; b.Loop(); i++ {
				if err := d.Decode(photos[i%len(photos)], denom, &m); err != nil {
					b.Fatal(err)
				}
			}
			r.report(b)
		})
	}
}

// BenchmarkStages splits TwoViews into its passes on the same images and parameters
// (decode at the chosen DCT scale; the two views' resample, colour and blur), per image.
func BenchmarkStages(b *testing.B) {
	photos := benchPhotos(b)
	for _, size := range []int{96, 224} {
		p, err := New(peerRecipe(), size)
		if err != nil {
			b.Fatal(err)
		}
		w := p.NewWorker()
		defer w.Close()
		type job struct {
			vp    [2]viewParams
			denom int
			img   decode.Image
		}
		jobs := make([]job, len(photos))
		for i, data := range photos {
			iw, ih, err := w.dec.Config(data)
			if err != nil {
				b.Fatal(err)
			}
			j := &jobs[i]
			w.sampleViews(SampleRNG(1, 0, int64(i)), iw, ih, &j.vp)
			j.denom = dctScale(data, p.scaleAt, min(j.vp[0].cw, j.vp[0].ch, j.vp[1].cw, j.vp[1].ch), size)
			if err := w.dec.Decode(data, j.denom, &j.img); err != nil {
				b.Fatal(err)
			}
		}
		dst := make([]float32, 3*size*size)
		var img decode.Image
		stages := []struct {
			name string
			run  func(i int)
		}{
			{"decode", func(i int) { w.dec.Decode(photos[i], jobs[i].denom, &img) }},
			{"resample", func(i int) {
				w.img = jobs[i].img
				for k := range 2 {
					vp := jobs[i].vp[k]
					vp.jitter, vp.gray, vp.blur, vp.solarize = false, false, false, false
					w.render(&vp, jobs[i].denom, dst)
				}
			}},
			{"resample+colour", func(i int) {
				w.img = jobs[i].img
				for k := range 2 {
					vp := jobs[i].vp[k]
					vp.blur = false
					w.render(&vp, jobs[i].denom, dst)
				}
			}},
			{"resample+colour+blur", func(i int) {
				w.img = jobs[i].img
				for k := range 2 {
					w.render(&jobs[i].vp[k], jobs[i].denom, dst)
				}
			}},
		}
		for _, st := range stages {
			b.Run(fmt.Sprintf("%d/%s", size, st.name), func(b *testing.B) {
				r := startRate()
				for i := 0; b.Loop(); i++ {
					st.run(i % len(photos))
				}
				r.report(b)
			})
		}
	}
}

// BenchmarkTwoViewsParallel runs one worker per GOMAXPROCS (all cores): img/s is the machine's
// rate, img/cpu-s still the per-core one.
func BenchmarkTwoViewsParallel(b *testing.B) {
	photos := benchPhotos(b)
	for _, size := range []int{96, 224} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			p, err := New(peerRecipe(), size)
			if err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			r := startRate()
			b.RunParallel(func(pb *testing.PB) {
				w := p.NewWorker()
				defer w.Close()
				v1, v2 := make([]float32, 3*size*size), make([]float32, 3*size*size)
				for pb.Next() {
					i := next.Add(1)
					if err := w.TwoViews(photos[int(i)%len(photos)], SampleRNG(1, 0, i), v1, v2); err != nil {
						b.Error(err)
						return
					}
				}
			})
			r.report(b)
		})
	}
}

// BenchmarkPasses times the passes after the resample on their own, per view, on views of the
// benchmark photos resampled once beforehand: colour (jitter and grayscale as drawn), blur
// (as drawn) and the normalisation into the CHW output.
func BenchmarkPasses(b *testing.B) {
	photos := benchPhotos(b)
	const size = 96
	p, err := New(peerRecipe(), size)
	if err != nil {
		b.Fatal(err)
	}
	w := p.NewWorker()
	defer w.Close()
	type view struct {
		vp  viewParams
		hwc []float32
	}
	var views []view
	dst := make([]float32, 3*size*size)
	for i, data := range photos[:min(len(photos), 64)] {
		iw, ih, err := w.dec.Config(data)
		if err != nil {
			b.Fatal(err)
		}
		var vp [2]viewParams
		w.sampleViews(SampleRNG(1, 0, int64(i)), iw, ih, &vp)
		if err := w.dec.Decode(data, 1, &w.img); err != nil {
			b.Fatal(err)
		}
		for k := range vp {
			plain := vp[k]
			plain.jitter, plain.gray, plain.blur, plain.solarize = false, false, false, false
			w.render(&plain, 1, dst)
			views = append(views, view{vp[k], append([]float32(nil), w.hwc...)})
		}
	}
	px := make([]float32, 3*size*size)
	tmp := make([]float32, len(px)+3*(size+2*maxPairs))
	passes := []struct {
		name string
		run  func(v *view)
	}{
		{"copy", func(v *view) { copy(px, v.hwc) }},
		{"colour", func(v *view) {
			copy(px, v.hwc)
			if v.vp.jitter || v.vp.gray {
				colour(&v.vp, px, 3*size)
			}
		}},
		{"blur", func(v *view) {
			copy(px, v.hwc)
			if v.vp.blur {
				gaussianBlur(px, tmp, size, size, p.blur.radius(float64(v.vp.sigma)), float64(v.vp.sigma))
			}
		}},
		{"normalise", func(v *view) {
			copy(px, v.hwc)
			normalise(px, dst, size*size, v.vp.solarize)
		}},
	}
	for _, pass := range passes {
		b.Run(pass.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				pass.run(&views[i%len(views)])
			}
		})
	}
}
