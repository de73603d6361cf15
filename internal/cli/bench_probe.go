package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/pipeline"
)

func newBenchProbeCmd(e *env) *cobra.Command {
	return leaf("probe [--newt CSV] [--images P] [--json]", "Time NeWT feature extraction (random-init encoder of the config) and the linear-probe fits",
		"",
		(*benchProbeOptions).flags, func(cmd *cobra.Command, o *benchProbeOptions) error {
			return e.runBench(o.JSON, func(cfg *configs.Config) (benchResult, error) {
				r, err := pipeline.BenchProbe(cmd.Context(), cfg, o.BenchProbeOptions, newConsole(e.Stderr))
				return probeTable{r, cfg.Model.Backbone}, err
			})
		})
}

// benchProbeOptions are the flags of `natssl bench probe`.
type benchProbeOptions struct {
	pipeline.BenchProbeOptions
	JSON bool
}

func (o *benchProbeOptions) flags(f *pflag.FlagSet) {
	f.IntVar(&o.Workers, "workers", 0, "goroutines (0: every core)")
	f.StringVar(&o.NeWT, "newt", "", "NeWT labels CSV (default: eval.newt_csv)")
	f.StringVar(&o.Images, "images", "", "folder or .tar/.tar.gz of the images (default: eval.images)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object on the last line")
}

type probeTable struct {
	*pipeline.BenchProbeResult
	backbone string
}

func (r probeTable) jsonLines() []any { return []any{r.BenchProbeResult} }

func (r probeTable) table(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%-14s %d\n%-14s %d\n%-14s %d (%s)\n%-14s %d\n%-14s %.2fs (%.1f images/s)\n%-14s %.2fs (%.2f tasks/s)\n%-14s %.4f\n",
		"tasks", r.Tasks, "images", r.Images, "feature dim", r.FeatureDim, r.backbone, "cores", r.Cores,
		"features", r.FeaturesS, r.ImagesPerS, "fit", r.FitS, r.TasksPerS, "mean accuracy", r.MeanAccuracy)
	return err
}
