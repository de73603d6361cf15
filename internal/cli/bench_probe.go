package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/probe"
	"github.com/natssl/natssl/trainer"
)

func init() { addBenchCommand(newBenchProbeCmd) }

// benchProbeOptions are the flags of `natssl bench probe`.
type benchProbeOptions struct {
	NeWT, Images string
	Workers      int
	JSON         bool
}

// benchProbeResult is the JSON object `natssl bench probe --json` prints on its last line.
type benchProbeResult struct {
	Tasks        int     `json:"tasks"`
	Images       int     `json:"images"`
	FeatureDim   int     `json:"feature_dim"`
	Cores        int     `json:"cores"`
	FeaturesS    float64 `json:"features_s"`
	FitS         float64 `json:"fit_s"`
	ImagesPerS   float64 `json:"images_per_s"`
	TasksPerS    float64 `json:"tasks_per_s"`
	MeanAccuracy float64 `json:"mean_accuracy"`
}

func newBenchProbeCmd(e *env) *cobra.Command {
	var o benchProbeOptions
	cmd := &cobra.Command{
		Use:   "probe [--newt CSV] [--images P] [--json]",
		Short: "Time NeWT feature extraction (random-init encoder of the config) and the linear-probe fits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			o.NeWT, o.Images = suitePaths(cfg, o.NeWT, o.Images)
			if o.NeWT == "" || o.Images == "" {
				return usageErr(errors.New("bench probe: give --newt CSV and --images DIR|TAR.gz (or set eval.newt_csv and eval.images)"))
			}
			suite, images, err := loadSuite(ctx, e, o.NeWT, o.Images, false)
			if err != nil {
				return err
			}
			enc, err := trainer.NewEncoder(cfg.Model, cfg.Data.ImageSize, cfg.Run.Seed)
			if err != nil {
				return err
			}
			start := time.Now()
			feats, err := extractFeatures(ctx, e, cfg, enc, suite, images, o.Workers)
			if err != nil {
				return err
			}
			featS := time.Since(start).Seconds()
			start = time.Now()
			res, err := probe.Evaluate(ctx, suite, feats, probe.Options{Workers: o.Workers})
			if err != nil {
				return err
			}
			fitS := time.Since(start).Seconds()
			r := benchProbeResult{Tasks: len(res.Tasks), Images: len(feats.IDs), FeatureDim: feats.Dim, Cores: runtime.NumCPU(),
				FeaturesS: featS, FitS: fitS, ImagesPerS: float64(len(feats.IDs)) / featS, TasksPerS: float64(len(res.Tasks)) / fitS,
				MeanAccuracy: res.Mean}
			fmt.Fprintf(e.Stdout, "%-14s %d\n%-14s %d\n%-14s %d (%s)\n%-14s %d\n", "tasks", r.Tasks, "images", r.Images,
				"feature dim", r.FeatureDim, cfg.Model.Backbone, "cores", r.Cores)
			fmt.Fprintf(e.Stdout, "%-14s %.2fs (%.1f images/s)\n%-14s %.2fs (%.2f tasks/s)\n%-14s %.4f\n", "features", r.FeaturesS, r.ImagesPerS,
				"fit", r.FitS, r.TasksPerS, "mean accuracy", r.MeanAccuracy)
			if o.JSON {
				b, _ := json.Marshal(r)
				fmt.Fprintln(e.Stdout, string(b))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.NeWT, "newt", "", "NeWT labels CSV (default: eval.newt_csv)")
	f.StringVar(&o.Images, "images", "", "folder or .tar/.tar.gz of the images (default: eval.images)")
	f.IntVar(&o.Workers, "workers", 0, "goroutines (0: every core)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object on the last line")
	return cmd
}
