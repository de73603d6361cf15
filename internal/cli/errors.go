package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/internal/pipeline"
	"github.com/natssl/natssl/loader"
	"github.com/natssl/natssl/trainer"
)

// usageErr marks err as a command line that cannot run as given: a request refused before any
// work, as the pipeline refuses one.
func usageErr(err error) error { return &pipeline.RequestError{Err: err} }

// exitCode is decided here alone, from the error's type: 2 for what was asked wrongly (flags,
// arguments, the config, a run reference that names no run or several, a request the
// pipeline refused before any work), 1 for a failure while working, and 128 + the signal's
// number for a training stopped by a signal (run decides it from the context for SIGINT and
// SIGTERM, which every command watches).
func exitCode(err error) int {
	var (
		ce *configs.Errors
		re *pipeline.RequestError
		me *trainer.MismatchError
		se *signalError
	)
	switch {
	case errors.As(err, &se):
		return se.exitCode() // natssl train's SIGUSR1, which it watches itself
	case errors.Is(err, trainer.ErrPeerStopped):
		// A rank stopped with the others by a signal it did not get itself: 138, as after
		// SIGUSR1, the signal that stops ranks, so that the launcher's status reads "stopped"
		// whichever rank's it reports.
		return (&signalError{sig: syscall.SIGUSR1}).exitCode()
	}
	if errors.As(err, &ce) || errors.As(err, &re) || errors.As(err, &me) ||
		errors.Is(err, experiments.ErrNotFound) || errors.Is(err, experiments.ErrAmbiguous) ||
		errors.Is(err, experiments.ErrNoSweep) {
		return 2
	}
	return 1
}

// typeArgErrors makes cobra's argument errors usage errors where they arise: every command's
// Args check is wrapped, and a command with subcommands refuses an unknown one (with a
// suggestion) instead of printing its help; given nothing, it prints its help.
func typeArgErrors(c *cobra.Command) {
	if c.HasSubCommands() {
		c.SuggestionsMinimumDistance = 2
		c.Args = unknownSubcommand
		c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		for _, sub := range c.Commands() {
			typeArgErrors(sub)
		}
		return
	}
	if check := c.Args; check != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageErr(err)
			}
			return nil
		}
	}
}

func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageErr(errors.New(msg))
}

// withHint adds what to do next to errors a new user meets: the demo data not made yet.
func withHint(cfg *configs.Config, err error) error {
	if errors.Is(err, loader.ErrNoSource) && strings.HasPrefix(filepath.ToSlash(cfg.Data.Source), "data/fmnist/") {
		return fmt.Errorf("%w\n  create the demo data with: natssl data fashion-mnist", err)
	}
	return err
}
