package pipeline

import (
	"fmt"
	"os"
	"strings"

	"github.com/natssl/natssl/configs"
)

// RequestError refuses a request before any work: what was asked cannot be done as asked (a
// --resume that names no checkpoint or run, a batch that divides over no whole number of
// replicas, an evaluation naming no encoder or no suite).
type RequestError struct{ Err error }

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

// refuse returns a *RequestError with a formatted message.
func refuse(format string, args ...any) error {
	return &RequestError{Err: fmt.Errorf(format, args...)}
}

// joinLine joins a failure and a second one met while handling it into one error of one line
// (errors.Join would print two), the first kept for errors.Is and errors.As.
func joinLine(err, also error) error {
	switch {
	case also == nil:
		return err
	case err == nil:
		return also
	}
	return fmt.Errorf("%w; and then: %v", err, also)
}

// dbPath is the tracker database a call uses: the one named, else run.db of the config.
func dbPath(cfg *configs.Config, named string) string {
	if named != "" {
		return named
	}
	return cfg.Run.DB
}

// commandLine is recorded with a run when the caller names no command.
func commandLine(named string) string {
	if named != "" {
		return named
	}
	return strings.Join(os.Args, " ")
}
