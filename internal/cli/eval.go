package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/internal/pipeline"
)

func newEvalCmd(e *env) *cobra.Command {
	return leaf("eval (--checkpoint PATH | --run RUN | --random-init) [--newt CSV] [--images DIR|TAR.gz]", "Score an encoder with the NeWT linear probe and record the results with its run",
		`Extracts frozen features of the suite's images (resized and centre-cropped to eval.image_size,
normalised as in training) and runs the NeWT protocol per task: standard scaling, L2 normalisation,
a linear SVM (squared hinge, L2, primal, tol 1e-5, 1000 iterations) with C chosen by 3-fold
stratified cross-validation, refit, test accuracy. The results go to the tracker's evals table
against the run and checkpoint step; a --random-init evaluation is recorded as a run of its own.
--run scores the run's latest checkpoint: the newest file that verifies (a torn one is skipped).
Every evaluation is kept, with its classifier, suite file (path and content hash) and checkpoint:
scoring again with another --classifier adds an evaluation beside the first.

`+runRefHelp+`
For example: natssl eval --run latest, natssl eval --run fmnist-simclr --classifier logreg.`,
		(*evalOptions).flags, func(cmd *cobra.Command, o *evalOptions) error {
			w, err := joinJob("eval", true)
			if err != nil {
				return err
			}
			return leaveJob(w, e.runEval(cmd.Context(), o), e.Stderr)
		})
}

func (e *env) runEval(ctx context.Context, o *evalOptions) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	o.DB, o.Command = e.Global.DB, commandLine()
	res, err := pipeline.Evaluate(ctx, cfg, o.EvalOptions, newConsole(e.Stderr))
	if err != nil {
		return err
	}
	return printEval(e, res, o.JSON)
}

// evalOptions are the flags of `natssl eval`.
type evalOptions struct {
	pipeline.EvalOptions
	JSON bool
}

func (o *evalOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.Checkpoint, "checkpoint", "", "checkpoint file to evaluate")
	f.StringVar(&o.Run, "run", "", "evaluate the latest checkpoint of this run (id, prefix, name, NAME@K or latest)")
	f.BoolVar(&o.RandomInit, "random-init", false, "evaluate a freshly initialised encoder (model and seed from the config)")
	f.StringVar(&o.Features, "features", "", "score precomputed features (FILE.npy + FILE.ids.txt, as --features-out writes them); recorded as a run of its own")
	f.StringVar(&o.NeWT, "newt", "", "NeWT labels CSV (default: eval.newt_csv)")
	f.StringVar(&o.Images, "images", "", "folder of <id>.jpg or a .tar/.tar.gz of them (default: eval.images)")
	f.StringVar(&o.FeaturesOut, "features-out", "", "also write the features as FILE.npy (float32) and FILE.ids.txt")
	f.StringVar(&o.Classifier, "classifier", "", "linearsvc or logreg (default: eval.classifier)")
	f.BoolVar(&o.SkipMissing, "skip-missing", false, "go on without the suite's images that are missing")
	f.BoolVar(&o.JSON, "json", false, "print the results as one JSON object on the last line")
	f.IntVar(&o.Workers, "workers", 0, "feature-extraction and fitting goroutines (0: every core)")
}

// printEval prints the results table, where they were recorded, and with asJSON one JSON line.
func printEval(e *env, res *pipeline.EvalResult, asJSON bool) error {
	if err := res.WriteTable(e.Stdout); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.Stdout, "recorded against run %s, checkpoint step %d (%s); features %.1fs, fitting %.1fs\n",
		res.RunID, res.CheckpointStep, res.Source, res.FeaturesS, res.FitS); err != nil {
		return err
	}
	if !asJSON {
		return nil
	}
	return printJSONLine(e.Stdout, res)
}
