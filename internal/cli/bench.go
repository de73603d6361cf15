package cli

import "github.com/spf13/cobra"

// benchCommands are added by each benchmark's file (bench_loader.go, bench_train.go, ...).
var benchCommands []func(*env) *cobra.Command

func addBenchCommand(f func(*env) *cobra.Command) { benchCommands = append(benchCommands, f) }

func init() { addCommand(newBenchCmd) }

func newBenchCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput: a human table, and with --json one JSON object on the last line",
		Args:  cobra.NoArgs,
	}
	for _, f := range benchCommands {
		cmd.AddCommand(f(e))
	}
	return cmd
}
