package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/configs"
)

func newBenchCmd(e *env) *cobra.Command {
	return group("bench", "Measure throughput: a human table, and with --json one JSON object on the last line",
		newBenchLoaderCmd(e), newBenchTrainCmd(e), newBenchProbeCmd(e))
}

// benchResult is a measurement as a benchmark prints it: a table for people, and the JSON
// lines of --json for scripts (the last line is the one they read).
type benchResult interface {
	table(w io.Writer) error
	jsonLines() []any
}

// runBench is the body every benchmark shares: resolve the config, measure, print the table,
// and with asJSON the JSON lines. It runs in one process.
func (e *env) runBench(asJSON bool, measure func(*configs.Config) (benchResult, error)) error {
	w, err := joinJob("bench", true)
	if err != nil {
		return err
	}
	return leaveJob(w, e.bench(asJSON, 0, measure), e.Stderr)
}

// bench measures and prints; a rank other than 0 (rank) measures its part and prints nothing.
func (e *env) bench(asJSON bool, rank int, measure func(*configs.Config) (benchResult, error)) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	res, err := measure(cfg)
	if err != nil || rank != 0 {
		return err
	}
	if err := res.table(e.Stdout); err != nil {
		return err
	}
	if !asJSON {
		return nil
	}
	for _, v := range res.jsonLines() {
		if err := printJSONLine(e.Stdout, v); err != nil {
			return err
		}
	}
	return nil
}
