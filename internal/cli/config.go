package cli

import (
	"fmt"

	"github.com/spf13/cobra"
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
		Short: "Check the configuration; exit 0 when valid, 2 with one line per problem otherwise",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := e.loadConfig(); err != nil {
				return err
			}
			_, err := fmt.Fprintln(e.Stdout, "config: ok")
			return err
		},
	}
	return group("config", "Print or validate the resolved configuration", print, validate)
}
