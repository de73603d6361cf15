package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/configs"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	ConfigFile string
	Sets       []string
	DB         string
}

// env is what a command needs from the process: streams and the global options.
type env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Global         *globalOptions
	// Hyperparameters is the SageMaker layer of the config, set when running inside a job.
	Hyperparameters     map[string]string
	HyperparametersFile string
}

// commands are added by each subcommand's file in init, so that each file stays self-contained.
var commands []func(*env) *cobra.Command

func addCommand(f func(*env) *cobra.Command) { commands = append(commands, f) }

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "natssl",
		Short: "Self-supervised learning on natural-world photo collections",
		Long: `natssl trains SimCLR encoders on natural-world photo collections (folders, iNat-style
JSON manifests, tar shards, s3:// prefixes), scores them with the NeWT linear probe, and keeps
every run in a SQLite experiment tracker.

Every command takes --config (a YAML file or an embedded preset: ` + strings.Join(configs.Presets(), ", ") + `),
repeated --set key=value overrides, and --db (the tracker; default run.db from the config).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&e.Global.ConfigFile, "config", "", "YAML config file, or the name of an embedded preset")
	root.PersistentFlags().StringArrayVar(&e.Global.Sets, "set", nil, "override a config key, e.g. --set train.lr=0.1 (repeatable)")
	root.PersistentFlags().StringVar(&e.Global.DB, "db", "", "experiment tracker database (default: run.db from the config)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	for _, f := range commands {
		root.AddCommand(f(e))
	}
	return root
}

// Main runs natssl with args and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdin, stdout, stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Global: &globalOptions{}}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := exitCode(err)
	msg := err.Error()
	if !strings.HasPrefix(msg, "config:") && !strings.HasPrefix(msg, "natssl") {
		msg = "natssl: " + msg
	}
	fmt.Fprintln(stderr, msg)
	return code
}

// exitError carries an exit code chosen where the error arose.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage error (exit code 2).
func usageErr(err error) error { return &exitError{code: 2, err: err} }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ce *configs.Errors
	if errors.As(err, &ce) {
		return 2
	}
	// cobra's own argument errors ("unknown command", "accepts 1 arg(s)") are usage errors.
	if strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") ||
		strings.HasPrefix(err.Error(), "unknown flag") || strings.HasPrefix(err.Error(), "required flag") {
		return 2
	}
	return 1
}

// loadConfig resolves the configuration from the global flags and the environment.
func (e *env) loadConfig() (*configs.Config, error) {
	return configs.Load(configs.Sources{
		File:                e.Global.ConfigFile,
		Hyperparameters:     e.Hyperparameters,
		HyperparametersFile: e.HyperparametersFile,
		Sets:                e.Global.Sets,
	})
}

// dbPath is --db when given, else run.db from the config.
func (e *env) dbPath(cfg *configs.Config) string {
	if e.Global.DB != "" {
		return e.Global.DB
	}
	return cfg.Run.DB
}
