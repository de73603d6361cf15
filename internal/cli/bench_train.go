package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/trainer"
)

func init() { addBenchCommand(newBenchTrainCmd) }

// benchTrainOptions are natssl bench train's flags.
type benchTrainOptions struct {
	Replicas      int
	Warmup, Steps int
	JSON          bool
}

// pytorchStepS is the reference: PyTorch 1.13 on these 2 CPU cores, convnet-small w=32 with
// the 256-256-128 head, NT-Xent, Adam, 32 px, batch 256 (issue 5).
const pytorchStepS = 0.80

func newBenchTrainCmd(e *env) *cobra.Command {
	var o benchTrainOptions
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Time training steps of the config's model on random batches (1 and 2 replicas)",
		Long: `natssl bench train times forward, loss, backward and update of the config's model and
batch on random images (the loader is not involved): the median step after warm-up, images/s,
the GFLOP/s achieved by the convolutions and linear layers (forward + backward), and the
sgemm GFLOP/s of the same BLAS measured in the same run (one product per replica at once).
Without --replicas it measures 1 replica and the config's train.devices count (at least 2).
With --json the last line of stdout is one JSON object (one line per measurement).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			if o.Steps < 1 || o.Warmup < 0 || o.Replicas < 0 {
				return usageErr(fmt.Errorf("bench train: --steps must be at least 1, --warmup and --replicas at least 0"))
			}
			counts := []int{o.Replicas}
			if o.Replicas == 0 {
				counts = []int{1, max(cfg.Replicas(), 2)}
			}
			var results []*trainer.BenchResult
			for _, r := range counts {
				if cfg.Data.BatchSize%r != 0 {
					return usageErr(fmt.Errorf("bench train: data.batch_size %d does not divide over %d replicas", cfg.Data.BatchSize, r))
				}
				res, err := trainer.Bench(cmd.Context(), cfg, r, o.Warmup, o.Steps)
				if err != nil {
					return err
				}
				results = append(results, res)
			}
			tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(e.Stdout, "model %s, %d params, batch %d (%d views) at %d px, BLAS %s\n",
				results[0].Model, results[0].Params, results[0].Batch, 2*results[0].Batch, results[0].ImageSize, results[0].BLAS)
			fmt.Fprintln(tw, "replicas\tstep s\timages/s\tGFLOP/s\tsgemm GFLOP/s\tvs PyTorch 0.80 s\t")
			for _, r := range results {
				fmt.Fprintf(tw, "%d\t%.3f\t%.1f\t%.1f\t%.1f\t%.2f×\t\n", r.Replicas, r.StepS, r.ImagesPerS, r.GFLOPS, r.SgemmGFLOPS, r.StepS/pytorchStepS)
			}
			tw.Flush()
			fmt.Fprintf(e.Stdout, "(the PyTorch figure is for convnet-small w=32, head 256-256-128, Adam, 32 px, batch 256 on 2 cores)\n")
			if o.JSON {
				for _, r := range results {
					b, err := json.Marshal(r)
					if err != nil {
						return err
					}
					fmt.Fprintln(e.Stdout, string(b))
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&o.Replicas, "replicas", 0, "replicas to measure (0: 1 and the config's device count)")
	cmd.Flags().IntVar(&o.Warmup, "warmup", 2, "steps before timing")
	cmd.Flags().IntVar(&o.Steps, "steps", 5, "timed steps (the median is reported)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "also print the result as JSON on the last line")
	return cmd
}
