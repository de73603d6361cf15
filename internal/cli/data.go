package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/fmnist"
)

func newDataCmd(e *env) *cobra.Command {
	o := &fmnistOptions{}
	fm := &cobra.Command{
		Use:   "fashion-mnist [--out DIR] [--from DIR]",
		Short: "Convert Debian's dataset-fashion-mnist into an iNat-style training set, NeWT-layout evaluation and validation suites and a monitor set",
		Long: `Converts the Fashion-MNIST idx files (Debian package dataset-fashion-mnist, under
` + fmnist.DefaultDir + `; --from for another place) into:
  DIR/train.json, DIR/train-000.tar ...   the 60,000 training images, iNat 2021 layout
                                          (data.source = DIR/train.json; the shards beside it
                                          are found when data.root is unset)
  DIR/newt/labels.csv, images.tar.gz      a NeWT-layout suite of binary tasks between easily
                                          confused classes, from the test images
  DIR/monitor/images.tar                  labelled test images outside the suite, in class
                                          folders: the online monitor's kNN set
  DIR/val/labels.csv, images.tar.gz       the validation suite: the same tasks from the
                                          training images (natssl sweep is judged on it)
The default DIR, ` + defaultDataDir() + `, is where the default config reads all four; with another
DIR, the command prints the --set flags that point a run at it.
The same --seed gives the same files, byte for byte.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Out == "" {
				return usageErr(errors.New("data fashion-mnist: --out DIR must not be empty"))
			}
			return o.run(cmd, e)
		},
	}
	f := fm.Flags()
	f.StringVar(&o.Out, "out", defaultDataDir(), "output folder (the default is where the default config reads)")
	f.StringVar(&o.From, "from", fmnist.DefaultDir, "folder holding the idx files (.gz or plain)")
	f.Uint64Var(&o.Seed, "seed", 0, "chooses the suite's images")
	f.IntVar(&o.Shards, "shards", 6, "tar shards for the training images")
	f.IntVar(&o.TrainLimit, "train-limit", 0, "only the first N training images (0: all); for quick tests")
	f.IntVar(&o.PerClass, "per-class", 100, "train (and test) images per class per task of the suite")
	f.IntVar(&o.MonitorPerClass, "monitor-per-class", 100, "test images per class, outside the suite, in the monitor's kNN set")
	f.BoolVar(&o.JSON, "json", false, "print a JSON summary as the last line")
	return group("data", "Make datasets natssl can read", fm, newDataShardCmd(e))
}

// fmnistOptions are the flags of `natssl data fashion-mnist`.
type fmnistOptions struct {
	fmnist.Options
	JSON bool
}

func (o *fmnistOptions) run(cmd *cobra.Command, e *env) error {
	start := time.Now()
	sum, err := fmnist.Convert(cmd.Context(), o.Options)
	if errors.Is(err, fmnist.ErrNotInstalled) {
		return fmt.Errorf("data fashion-mnist: %w", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "training set: %d images in %d shards, manifest %s\n", sum.TrainImages, len(sum.Shards), sum.Manifest)
	def := filepath.Clean(o.Out) == defaultDataDir()
	hint := func(format string, args ...any) {
		if !def {
			fmt.Fprintf(e.Stdout, format, args...)
		}
	}
	hint("  train with: --set data.source=%s (the shards beside it are found)\n", sum.Manifest)
	fmt.Fprintf(e.Stdout, "NeWT suite:   %d tasks, %d images: %s, %s\n", sum.Tasks, sum.SuiteImages, sum.LabelsCSV, sum.ImagesTar)
	hint("  evaluate with: natssl eval --newt %s --images %s ...\n", sum.LabelsCSV, sum.ImagesTar)
	fmt.Fprintf(e.Stdout, "monitor set:  %d labelled images outside the suite: %s\n", sum.MonitorImages, sum.MonitorTar)
	hint("  watch training with: --set eval.monitor_knn=%s\n", sum.MonitorTar)
	fmt.Fprintf(e.Stdout, "validation:   %d tasks, %d training images: %s, %s\n", sum.Tasks, sum.ValImages, sum.ValLabelsCSV, sum.ValImagesTar)
	hint("  sweep with: --set eval.val_csv=%s --set eval.val_images=%s\n", sum.ValLabelsCSV, sum.ValImagesTar)
	if def {
		fmt.Fprintln(e.Stdout, "the default config reads all four (data.source, eval.newt_csv, eval.monitor_knn, eval.val_csv): no --set needed")
	}
	fmt.Fprintf(e.Stdout, "done in %.1fs\n", time.Since(start).Seconds())
	if !o.JSON {
		return nil
	}
	return printJSONLine(e.Stdout, sum)
}

// defaultDataDir is the folder the default config's data.source is in: data/fmnist.
func defaultDataDir() string { return filepath.Dir(configs.Default().Data.Source) }
