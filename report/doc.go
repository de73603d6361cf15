// Package report compares runs of the experiment tracker: which run is better, and why. It
// gathers each run's metadata, config, training curves, checkpoints and NeWT evaluation from an
// experiments.DB and renders one report as Markdown (for a terminal, a paper or a pull request)
// and as one self-contained HTML page (no network needed to view it), with SVG plots drawn by
// gonum/plot: training loss and images/s against step for all runs overlaid, NeWT accuracy per
// cluster as grouped bars, and each run's per-task accuracy against the baseline's as a scatter.
//
// The first run is the baseline unless Options.Baseline names another; differences (NeWT means,
// tasks won and lost, largest gains and losses) are taken against it, using each run's last
// evaluated checkpoint. The config table shows only keys whose values differ between runs
// unless Options.Full is set. Failed runs, runs still RUNNING (or stale) and runs without an
// evaluation appear with what they have and a mark saying so.
//
// The command line (natssl report) parses flags and calls Build, then Write or Markdown/HTML.
package report
