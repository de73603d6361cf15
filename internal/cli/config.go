package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/internal/pipeline"
)

func newConfigCmd(e *env) *cobra.Command {
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the fully resolved YAML: defaults, file, environment, hyperparameters and --set applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			out, err := cfg.YAML()
			if err != nil {
				return err
			}
			_, err = e.Stdout.Write(out)
			return err
		},
	}
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration and its local training data; exit 0 when valid, 2 with one line per problem otherwise",
		Long: `Checks every key (types, ranges, unknown keys), then the local training data the config names:
data.source must exist (and a folder must hold images), and so must a local data.root; a
relative path is read from the current folder, which the message names. s3:// data is not
reached for.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			if err := pipeline.CheckInputs(cfg); err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.Stdout, "config: ok")
			return err
		},
	}
	return group("config", "Print or validate the resolved configuration", print, validate)
}
