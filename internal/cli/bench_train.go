package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/pipeline"
	"github.com/natssl/natssl/trainer"
)

func newBenchTrainCmd(e *env) *cobra.Command {
	return leaf("train", "Time training steps of the config's model on random batches (1 and 2 replicas, or ranks under mpirun)",
		`natssl bench train times forward, loss, backward and update of the config's model and
batch on random images (the loader is not involved), on the CPU or on the GPUs of
train.devices (replicas take them in turn) in train.precision: the median step after warm-up
(on GPUs, to the end of the update on the devices), images/s,
the GFLOP/s achieved by the convolutions and linear layers (forward + backward), and the
sgemm GFLOP/s of the same BLAS measured in the same run (one product per replica at once), the
ceiling the achieved GFLOP/s are read against. Without --replicas it measures 1 replica and the
config's train.devices count (at least 2). With --json the last line of stdout is one JSON
object (one line per measurement): its fields are those of docs/DESIGN.md, with "device",
"world_size" and "comm_s".

Under mpirun (or srun), every rank runs --replicas replicas (default: the config's device
count) on its share of the global batch, and each step includes the collectives that join the
ranks (the embeddings' all-gather, the gradients' and batch-norm statistics' ordered sums):
comm_s is their time in the median step, waiting for the slowest rank included. Rank 0 prints.`,
		(*benchTrainOptions).flags, func(cmd *cobra.Command, o *benchTrainOptions) error {
			w, err := joinJob("bench train", false)
			if err != nil {
				return err
			}
			o.World = w
			return leaveJob(w, e.bench(o.JSON, w.Rank(), func(cfg *configs.Config) (benchResult, error) {
				rs, err := pipeline.BenchTrain(cmd.Context(), cfg, o.BenchTrainOptions)
				return trainTable(rs), err
			}), e.Stderr)
		})
}

// benchTrainOptions are natssl bench train's flags.
type benchTrainOptions struct {
	pipeline.BenchTrainOptions
	JSON bool
}

func (o *benchTrainOptions) flags(f *pflag.FlagSet) {
	f.IntVar(&o.Replicas, "replicas", 0, "replicas to measure (0: 1 and the config's device count)")
	f.IntVar(&o.Warmup, "warmup", 2, "steps before timing")
	f.IntVar(&o.Steps, "steps", 5, "timed steps (the median is reported)")
	f.BoolVar(&o.JSON, "json", false, "also print the result as JSON on the last line")
}

// trainTable prints only what this run measured: no figure from elsewhere.
type trainTable []*trainer.BenchResult

func (rs trainTable) jsonLines() []any {
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

func (rs trainTable) table(w io.Writer) error {
	r0 := rs[0]
	if _, err := fmt.Fprintf(w, "model %s, %d params, batch %d (%d views) at %d px, on %s (%s), BLAS %s\n",
		r0.Model, r0.Params, r0.Batch, 2*r0.Batch, r0.ImageSize, r0.Device, r0.Precision, r0.BLAS); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ranks\treplicas\tdevice\tstep s\tcomm s\timages/s\tGFLOP/s\tsgemm GFLOP/s\tof sgemm\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%.3f\t%.3f\t%.1f\t%.1f\t%.1f\t%.0f%%\t\n", r.WorldSize, r.Replicas, r.Device, r.StepS, r.CommS,
			r.ImagesPerS, r.GFLOPS, r.SgemmGFLOPS, 100*r.GFLOPS/r.SgemmGFLOPS)
	}
	return tw.Flush()
}
