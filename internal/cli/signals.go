package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// signalError is the cause of a command's context cancelled by a signal.
type signalError struct{ sig os.Signal }

func (e *signalError) Error() string { return "stopped by " + signalName(e.sig) }

// Is makes a signal's cancellation read as context.Canceled, as any other.
func (e *signalError) Is(target error) bool { return target == context.Canceled }

// exitCode is 128 + the signal's number, as shells report it: 130 for SIGINT, 143 for SIGTERM,
// 138 for SIGUSR1.
func (e *signalError) exitCode() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT (Ctrl-C)"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	}
	return s.String()
}

// notifySignals returns a context cancelled, with a *signalError as its cause, by the first
// SIGINT or SIGTERM.
func notifySignals(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-c:
			cancel(&signalError{sig: s})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(c)
		close(done)
		cancel(nil)
	}
}

// stoppedBy is the signal that cancelled ctx; nil when none did.
func stoppedBy(ctx context.Context) *signalError {
	var se *signalError
	if errors.As(context.Cause(ctx), &se) {
		return se
	}
	return nil
}

// stopSignals makes the first stop signal a clean stop and a second one an exit at once, with
// 128 + its number. SIGINT and SIGTERM are always watched (notifySignals cancels the command's
// context with them at the root); the extra ones (natssl train's SIGUSR1, which mpirun and
// srun --signal forward to every rank at once) cancel the returned context, with a
// *signalError as its cause. notice announces the stop on a line of its own. teardown is
// closed on SIGINT or SIGTERM: under a launcher, the job is being ended (mpirun turns its own
// SIGTERM and SIGINT into a SIGTERM to the ranks only odls_base_sigkill_timeout later, with
// SIGKILL as long after).
func stopSignals(ctx context.Context, notice func(string), extra ...os.Signal) (_ context.Context, teardown <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	c := make(chan os.Signal, 2)
	signal.Notify(c, append([]os.Signal{os.Interrupt, syscall.SIGTERM}, extra...)...)
	td := make(chan struct{})
	done := make(chan struct{})
	go func() {
		var first os.Signal
		select {
		case first = <-c:
		case <-done:
			return
		}
		notice(signalName(first) + ": stopping after this step to write a checkpoint (signal again to exit at once)")
		if first == os.Interrupt || first == syscall.SIGTERM {
			close(td)
		}
		cancel(&signalError{sig: first})
		select {
		case s := <-c:
			notice("second signal: exiting without a checkpoint")
			os.Exit((&signalError{sig: s}).exitCode())
		case <-done:
		}
	}()
	return ctx, td, func() {
		signal.Stop(c)
		close(done)
		cancel(nil)
	}
}

// exitOnSecondSignal is stopSignals for a command that stops on SIGINT and SIGTERM alone and
// whose context notifySignals cancels.
func exitOnSecondSignal(notice func(string)) (stop func()) {
	_, _, stop = stopSignals(context.Background(), notice)
	return stop
}
