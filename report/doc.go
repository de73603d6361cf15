// Package report compares runs of the experiment tracker: which run is better, and why. It
// gathers each run's metadata, config, training curves, checkpoints and NeWT evaluation from an
// experiments.DB and renders one report as Markdown (for a terminal, a paper or a pull request)
// and as one self-contained HTML page (no network needed to view it), with SVG plots drawn by
// gonum/plot: training loss and images/s against step for all runs overlaid, the online
// monitor's kNN top-1 and NeWT mean against step (runs trained with eval.monitor_every), NeWT
// accuracy per cluster as grouped bars, and each run's per-task accuracy against the baseline's
// as a scatter.
//
// The first run is the baseline unless Options.Baseline names another; differences (NeWT means,
// tasks won and lost, largest gains and losses) are taken against it, using each run's last
// evaluated checkpoint. The config table shows only keys whose values differ between runs
// unless Options.Full is set. Failed runs, runs still RUNNING (or stale) and runs without an
// evaluation appear with what they have and a mark saying so.
//
// Every number about NeWT comes with how sure it is, computed from the per-image outcomes the
// tracker keeps with an evaluation: each task's accuracy with its 95% Wilson interval; each
// mean (overall, per cluster, per subcluster) with a 95% percentile bootstrap interval that
// resamples test images within tasks (Options.Resamples, seeded by Options.Seed and the runs'
// ids, so the same runs give the same intervals); each run against the baseline as one
// sentence ("B beats A by +4.4 points [+2.9, +5.8]; 10 of 10 tasks; p = 0.002") with the
// difference's bootstrap interval paired image by image and the sign test over tasks. Runs
// whose configs differ only in run.seed are grouped (mean ± standard deviation over seeds) and
// groups compared with a bootstrap over seeds and test images. An evaluation recorded without
// outcomes keeps its means and the sign test and is marked as having no intervals: nothing is
// made up for it. The statistics are checked against SciPy (testdata/stats_reference.py).
//
// The efficiency table sets each run's mean beside what its encoder costs: parameters and
// MFLOPs per image at its eval size (given by Options.Cost: the model arithmetic is left to
// the caller) and the size of its newest export of each format, with a plot of the mean
// against MFLOPs on a log axis when two runs have both; the exports section lists every file
// natssl export recorded.
//
// The command line (natssl report, through internal/pipeline) selects the runs and calls
// Build, then Write or Markdown/HTML.
package report
