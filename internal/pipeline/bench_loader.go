package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/decode"
	"github.com/natssl/natssl/loader"
)

// BenchLoaderOptions configure BenchLoader.
type BenchLoaderOptions struct {
	Source  string  // images to read; "" means data.source (and data.root)
	Size    int     // view side in pixels; 0 means data.image_size
	Seconds float64 // measuring time of each phase
	Workers int     // workers of the all-cores phase; 0: one per core
	Batch   int
	Repeat  int   // read the source this many times per epoch
	Samples int64 // then stream this many samples, for the peak RSS at 10,000 and at the end
	// Replicas, when set, adds a phase that reads one whole epoch for that many replicas
	// (with Workers), each its own share, and counts the bytes each reads; SampleSplit
	// deals that epoch by sample even where shards could be dealt.
	Replicas    int
	SampleSplit bool
}

// BenchLoaderResult is natssl bench loader's measurement; its JSON form is the command's
// contract (the first eight keys are the design's).
type BenchLoaderResult struct {
	Size              int      `json:"size"`
	Images            int64    `json:"images"`
	ImagesPerS        float64  `json:"images_per_s"`
	ImagesPerSPerCore float64  `json:"images_per_s_per_core"`
	Cores             int      `json:"cores"`
	DecodeImagesPerS  float64  `json:"decode_images_per_s"`
	PeakRSSBytes      int64    `json:"peak_rss_bytes"`
	Skipped           int64    `json:"skipped"`
	Samples           int64    `json:"samples,omitempty"`               // with Samples
	PeakRSSAt10kBytes int64    `json:"peak_rss_at_10k_bytes,omitempty"` // with Samples
	PeakRSSAtEndBytes int64    `json:"peak_rss_at_end_bytes,omitempty"` // with Samples
	DecodePerCorePerS float64  `json:"decode_images_per_s_per_core,omitempty"`
	DecodeBackend     string   `json:"-"`
	Views             string   `json:"-"` // the views of every image, e.g. "2 × 96 px + 4 × 48 px"
	SamplesSeconds    float64  `json:"-"`
	SamplesImagesPerS float64  `json:"-"`
	SkippedExamples   []string `json:"-"`

	// With Replicas: one epoch read for that many replicas.
	Replicas            int     `json:"replicas,omitempty"`
	Split               string  `json:"split,omitempty"` // "shard" or "sample"
	EpochImages         int64   `json:"epoch_images,omitempty"`
	EpochImagesPerS     float64 `json:"epoch_images_per_s,omitempty"`
	ReadBytesPerReplica []int64 `json:"read_bytes_per_replica,omitempty"`
	DataBytes           int64   `json:"data_bytes,omitempty"` // stored size of one epoch's shards, when known
}

// validate refuses options that measure nothing.
func (o BenchLoaderOptions) validate() error {
	switch {
	case o.Seconds <= 0:
		return refuse("bench loader: --seconds %v: want > 0", o.Seconds)
	case o.Size < 0 || o.Workers < 0 || o.Batch < 1 || o.Repeat < 1 || o.Samples < 0 || o.Replicas < 0:
		return refuse("bench loader: --size, --workers, --samples, --replicas must be >= 0 and --batch, --repeat >= 1")
	case o.Replicas > 0 && o.Batch%o.Replicas != 0:
		return refuse("bench loader: --batch %d does not divide over --replicas %d", o.Batch, o.Replicas)
	}
	return nil
}

// BenchLoader measures the loader on cfg's data (or o.Source): the decode-only rate of the
// same images (the ceiling), then the whole loader (read, decode, the views training draws,
// two or augment.crops', batches) with one worker and with o.Workers, each for o.Seconds, and
// with o.Samples the peak RSS of a long stream. Phases are announced as notices.
func BenchLoader(ctx context.Context, cfg *configs.Config, o BenchLoaderOptions, obs Observer) (*BenchLoaderResult, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	obs = orDiscard(obs)
	d := cfg.Data
	if o.Source != "" {
		d.Source, d.Root = o.Source, "" // a manifest named here resolves beside itself
	}
	if o.Size > 0 {
		if len(cfg.Augment.Crops) > 0 {
			return nil, refuse("bench loader: --size %d: augment.crops sets the size of every group of views (the first group's is data.image_size); leave --size out", o.Size)
		}
		d.ImageSize = o.Size
	}
	workers := o.Workers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	src, err := loader.Open(ctx, d)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	src = loader.Repeat(src, o.Repeat)
	viewed := *cfg
	viewed.Data = d
	res := &BenchLoaderResult{Size: d.ImageSize, Cores: workers, DecodeBackend: decode.Backend, Views: describeViews(viewed.ViewGroups())}
	phase := time.Duration(o.Seconds * float64(time.Second))

	images, err := sampleImages(ctx, src, 256)
	if err != nil {
		return nil, err
	}
	obs.Notice(fmt.Sprintf("bench loader: %s, %d px, decode-only on %d images (%s)...", d.Source, d.ImageSize, len(images), decode.Backend))
	res.DecodePerCorePerS = decodeRate(images, 1, phase/2)
	res.DecodeImagesPerS = decodeRate(images, workers, phase/2)

	opt := loader.Options{Seed: cfg.Run.Seed, ImageSize: d.ImageSize, BatchSize: o.Batch, ShuffleBuffer: d.ShuffleBuffer, Augment: cfg.Augment}
	settle(res) // each phase's peak RSS is then its own, not the garbage of the one before
	obs.Notice("bench loader: loader with 1 worker...")
	opt.Workers = 1
	one, err := loaderRate(ctx, src, opt, phase)
	if err != nil {
		return nil, err
	}
	res.ImagesPerSPerCore = one.ImagesPerS
	settle(res)
	obs.Notice(fmt.Sprintf("bench loader: loader with %d workers...", workers))
	opt.Workers = workers
	all, err := loaderRate(ctx, src, opt, phase)
	if err != nil {
		return nil, err
	}
	res.Images, res.ImagesPerS = all.Images, all.ImagesPerS
	res.Skipped = all.SkippedTotal()
	res.SkippedExamples = all.SkippedExamples

	if o.Replicas > 0 {
		settle(res)
		obs.Notice(fmt.Sprintf("bench loader: one epoch for %d replicas with %d workers...", o.Replicas, workers))
		if err := epochPhase(ctx, src, opt, o, res); err != nil {
			return nil, err
		}
	}
	if o.Samples > 0 {
		settle(res)
		obs.Notice(fmt.Sprintf("bench loader: streaming %d samples with %d workers...", o.Samples, workers))
		if err := streamSamples(ctx, src, opt, o.Samples, res, obs); err != nil {
			return nil, err
		}
	}
	res.PeakRSSBytes = max(res.PeakRSSBytes, peakRSS())
	return res, nil
}

// sampleImages reads up to n encoded images from the first shards, for the decode ceiling.
func sampleImages(ctx context.Context, src loader.Source, n int) ([][]byte, error) {
	var out [][]byte
	for _, sh := range src.Shards() {
		r, err := sh.Open(ctx)
		if err != nil {
			continue
		}
		for len(out) < n {
			rec, err := r.Next(ctx)
			if err != nil {
				break
			}
			data := rec.Data
			if rec.Load != nil {
				if data, err = rec.Load(ctx); err != nil {
					continue
				}
			}
			if len(data) > 0 {
				out = append(out, data)
			}
		}
		r.Close()
		if len(out) >= n {
			break
		}
	}
	if len(out) == 0 {
		return nil, errors.New("bench loader: the source yielded no readable images")
	}
	return out, nil
}

// decodeRate decodes images round-robin on goroutines for d and returns images/s.
func decodeRate(images [][]byte, goroutines int, d time.Duration) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := decode.NewDecoder()
			defer dec.Close()
			var img decode.Image
			for i := g; time.Now().Before(deadline); i += goroutines {
				if dec.Decode(images[i%len(images)], 1, &img) == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// loaderRate runs a loader for d after a one-batch warm-up and returns its statistics, the
// rate measured over that window.
func loaderRate(ctx context.Context, src loader.Source, opt loader.Options, d time.Duration) (loader.Stats, error) {
	l, err := loader.New(ctx, src, opt)
	if err != nil {
		return loader.Stats{}, err
	}
	defer l.Close()
	b, err := l.Next(ctx)
	if err != nil {
		return loader.Stats{}, fmt.Errorf("bench loader: first batch: %w", err)
	}
	l.Release(b)
	var images int64
	start := time.Now()
	for time.Since(start) < d {
		b, err := l.Next(ctx)
		if err != nil {
			return loader.Stats{}, err
		}
		images += int64(b.N)
		l.Release(b)
	}
	st := l.Stats()
	st.Images = images
	st.Seconds = time.Since(start).Seconds()
	st.ImagesPerS = float64(images) / st.Seconds
	return st, nil
}

// epochPhase reads one epoch for o.Replicas replicas and records its rate and the bytes
// each replica read.
func epochPhase(ctx context.Context, src loader.Source, opt loader.Options, o BenchLoaderOptions, res *BenchLoaderResult) error {
	opt.Replicas, opt.Epochs, opt.SampleSplit = o.Replicas, 1, o.SampleSplit
	l, err := loader.New(ctx, src, opt)
	if err != nil {
		return err
	}
	defer l.Close()
	start := time.Now()
	for {
		b, err := l.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		res.EpochImages += int64(b.N)
		l.Release(b)
	}
	st := l.Stats()
	res.Replicas, res.ReadBytesPerReplica = o.Replicas, st.ReadBytes
	res.EpochImagesPerS = float64(res.EpochImages) / time.Since(start).Seconds()
	res.Split = "sample"
	if loader.DealsShards(src) && !o.SampleSplit {
		res.Split = "shard"
	}
	res.DataBytes, _ = loader.StoredBytes(src)
	return nil
}

// streamSamples streams n samples and records peak RSS after 10,000 and at the end.
func streamSamples(ctx context.Context, src loader.Source, opt loader.Options, n int64, res *BenchLoaderResult, obs Observer) error {
	l, err := loader.New(ctx, src, opt)
	if err != nil {
		return err
	}
	defer l.Close()
	start := time.Now()
	var seen int64
	next := int64(10_000)
	for seen < n {
		b, err := l.Next(ctx)
		if err != nil {
			return err
		}
		seen += int64(b.N)
		l.Release(b)
		if seen >= min(10_000, n) && res.PeakRSSAt10kBytes == 0 {
			res.PeakRSSAt10kBytes = peakRSS()
		}
		if seen >= next {
			obs.Notice(fmt.Sprintf("bench loader: %d samples, %.0f images/s, peak RSS %d MiB", seen, float64(seen)/time.Since(start).Seconds(), peakRSS()>>20))
			next *= 10
		}
	}
	res.Samples = seen
	res.PeakRSSAtEndBytes = peakRSS()
	res.SamplesSeconds = time.Since(start).Seconds()
	res.SamplesImagesPerS = float64(seen) / res.SamplesSeconds
	return nil
}

// settle returns the garbage of a finished phase to the OS and restarts the peak RSS count
// (Linux: writing 5 to /proc/self/clear_refs resets VmHWM), so that each phase's peak is its
// own. The result keeps the highest.
func settle(res *BenchLoaderResult) {
	res.PeakRSSBytes = max(res.PeakRSSBytes, peakRSS())
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // without it (no /proc), peaks add up
}

// peakRSS is the process's peak resident set size (VmHWM), 0 where /proc is missing.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// describeViews writes groups of views as "2 × 96 px + 4 × 48 px".
func describeViews(groups []configs.Crop) string {
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = fmt.Sprintf("%d × %d px", g.Count, g.Size)
	}
	return strings.Join(parts, " + ")
}
