package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/pipeline"
)

func newBenchLoaderCmd(e *env) *cobra.Command {
	return leaf("loader", "Images/s of the loader (one decode and the views training draws from each image), per core and on all cores, with the decode-only ceiling and peak RSS",
		`Measures the loader on data.source (or --source): the decode-only rate of the same images
(the ceiling), then the full loader (read, decode, the views training draws: two at
data.image_size, or the groups of augment.crops; batches) with one worker and with one worker
per core, each for --seconds. --size sets the two views' size (refused with augment.crops,
whose groups set their own). --samples N then streams N samples (cycling epochs; --repeat K
makes each epoch read the source K times) and prints the peak RSS at 10,000 samples and at the
end, to show that memory stays flat. With --json the last line is one JSON object.`,
		(*benchLoaderOptions).flags, func(cmd *cobra.Command, o *benchLoaderOptions) error {
			switch o.split {
			case "auto":
			case "sample":
				o.SampleSplit = true
			default:
				return usageErr(fmt.Errorf("bench loader: --split %q: want auto or sample", o.split))
			}
			return e.runBench(o.JSON, func(cfg *configs.Config) (benchResult, error) {
				return measureLoader(cmd.Context(), e, cfg, o.BenchLoaderOptions)
			})
		})
}

// benchLoaderOptions are the flags of `natssl bench loader`.
type benchLoaderOptions struct {
	pipeline.BenchLoaderOptions
	JSON  bool
	split string
}

func (o *benchLoaderOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.Source, "source", "", "images to read, in place of data.source and data.root (default: those)")
	f.IntVar(&o.Size, "size", 0, "view side in pixels (default: data.image_size)")
	f.Float64Var(&o.Seconds, "seconds", 10, "measuring time of each phase")
	f.IntVar(&o.Workers, "workers", 0, "workers for the all-cores phase (default: one per core)")
	f.IntVar(&o.Batch, "batch", 64, "batch size")
	f.IntVar(&o.Repeat, "repeat", 1, "read the source this many times per epoch")
	f.Int64Var(&o.Samples, "samples", 0, "then stream this many samples and report peak RSS at 10k and at the end")
	f.IntVar(&o.Replicas, "replicas", 0, "then read one epoch for this many replicas, counting the bytes each reads")
	f.StringVar(&o.split, "split", "auto", "with --replicas: deal the epoch by shard where it can (auto) or by sample (sample)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object on the last line")
}

type loaderTable struct{ *pipeline.BenchLoaderResult }

func measureLoader(ctx context.Context, e *env, cfg *configs.Config, o pipeline.BenchLoaderOptions) (benchResult, error) {
	r, err := pipeline.BenchLoader(ctx, cfg, o, newConsole(e.Stderr))
	return loaderTable{r}, err
}

func (r loaderTable) jsonLines() []any { return []any{r.BenchLoaderResult} }

func (r loaderTable) table(w io.Writer) error {
	var b strings.Builder
	per := func(v float64) string { return fmt.Sprintf("%8.0f", v) }
	fmt.Fprintf(&b, "loader benchmark: %s views per image, %d cores, decoder %s\n", r.Views, r.Cores, r.DecodeBackend)
	fmt.Fprintf(&b, "  %-34s %8s %8s\n", "", "1 core", fmt.Sprintf("%d cores", r.Cores))
	fmt.Fprintf(&b, "  %-34s %s %s\n", "decode only (ceiling), images/s", per(r.DecodePerCorePerS), per(r.DecodeImagesPerS))
	fmt.Fprintf(&b, "  %-34s %s %s\n", "loader (decode + views), images/s", per(r.ImagesPerSPerCore), per(r.ImagesPerS))
	fmt.Fprintf(&b, "  %-34s %d\n", "images in the all-cores window", r.Images)
	fmt.Fprintf(&b, "  %-34s %d\n", "skipped (bad input)", r.Skipped)
	for _, s := range r.SkippedExamples {
		fmt.Fprintf(&b, "    %s\n", s)
	}
	if r.Replicas > 0 {
		fmt.Fprintf(&b, "  one epoch, %d replicas, split by %s: %d images, %.0f images/s\n", r.Replicas, r.Split, r.EpochImages, r.EpochImagesPerS)
		for i, n := range r.ReadBytesPerReplica {
			frac := ""
			if r.DataBytes > 0 {
				frac = fmt.Sprintf(" (%.2f of the %d stored)", float64(n)/float64(r.DataBytes), r.DataBytes)
			}
			fmt.Fprintf(&b, "    replica %d read %d bytes%s\n", i, n, frac)
		}
	}
	if r.Samples > 0 {
		fmt.Fprintf(&b, "  %-34s %d MiB\n", "peak RSS after 10,000 samples", r.PeakRSSAt10kBytes>>20)
		fmt.Fprintf(&b, "  %-34s %d MiB (%d samples, %.0f images/s)\n", "peak RSS at the end", r.PeakRSSAtEndBytes>>20, r.Samples, r.SamplesImagesPerS)
		fmt.Fprintf(&b, "  %-34s %d MiB\n", "peak RSS of any phase", r.PeakRSSBytes>>20)
	} else {
		fmt.Fprintf(&b, "  %-34s %d MiB\n", "peak RSS", r.PeakRSSBytes>>20)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
