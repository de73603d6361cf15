package probe

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Encoder turns a batch of preprocessed images into pooled features; *trainer.Encoder
// satisfies it. One Encoder is used by one goroutine at a time.
type Encoder interface {
	Dim() int
	// Features maps x, n images of 3 x S x S (NCHW, normalised), to n*Dim() row-major features.
	Features(ctx context.Context, x []float32, n int) ([]float32, error)
}

// Preprocessor turns an encoded image into the eval view: 3 x size x size, normalised as in
// training; *augment.Worker satisfies it. One Preprocessor is used by one goroutine at a time.
type Preprocessor interface {
	EvalView(data []byte, size int, dst []float32) error
}

// Worker is what one feature-extraction goroutine owns.
type Worker struct {
	Encoder      Encoder
	Preprocessor Preprocessor
}

// ExtractOptions configure Extract.
type ExtractOptions struct {
	ImageSize int
	BatchSize int      // images per Features call; default 64
	Workers   []Worker // one goroutine each; at least one
	// Progress, when set, is called after each batch with the images done so far (from the
	// worker goroutines, one call at a time).
	Progress func(done, total int)
}

// Extract computes the features of ids from their images, batched over opt.Workers. The
// result's rows are in the order of ids, whatever the number of workers.
func Extract(ctx context.Context, ids []string, images *Images, opt ExtractOptions) (*Features, error) {
	if len(opt.Workers) == 0 {
		return nil, errors.New("probe: extract: no workers")
	}
	if opt.ImageSize <= 0 {
		return nil, fmt.Errorf("probe: extract: image size %d", opt.ImageSize)
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 64
	}
	for _, id := range ids {
		if _, ok := images.Data[id]; !ok {
			return nil, fmt.Errorf("probe: extract: no image for id %q in %s", id, images.Source)
		}
	}
	dim := opt.Workers[0].Encoder.Dim()
	out := &Features{IDs: append([]string(nil), ids...), Dim: dim, Data: make([]float32, len(ids)*dim)}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	starts := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	px := 3 * opt.ImageSize * opt.ImageSize
	for _, w := range opt.Workers {
		wg.Add(1)
		go func(w Worker) {
			defer wg.Done()
			x := make([]float32, opt.BatchSize*px)
			for start := range starts {
				if ctx.Err() != nil {
					continue
				}
				end := min(start+opt.BatchSize, len(ids))
				n := end - start
				err := func() error {
					for i := 0; i < n; i++ {
						id := ids[start+i]
						if err := w.Preprocessor.EvalView(images.Data[id], opt.ImageSize, x[i*px:(i+1)*px]); err != nil {
							return fmt.Errorf("probe: image %s: %w", id, err)
						}
					}
					f, err := w.Encoder.Features(ctx, x[:n*px], n)
					if err != nil {
						return fmt.Errorf("probe: features of images %d..%d: %w", start, end-1, err)
					}
					if len(f) != n*dim {
						return fmt.Errorf("probe: encoder returned %d values for %d images of dim %d", len(f), n, dim)
					}
					copy(out.Data[start*dim:end*dim], f)
					return nil
				}()
				if err != nil {
					cancel(err)
					continue
				}
				if opt.Progress != nil {
					mu.Lock()
					done += n
					opt.Progress(done, len(ids))
					mu.Unlock()
				}
			}
		}(w)
	}
feed:
	for start := 0; start < len(ids); start += opt.BatchSize {
		select {
		case starts <- start:
		case <-ctx.Done():
			break feed
		}
	}
	close(starts)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return out, nil
}
