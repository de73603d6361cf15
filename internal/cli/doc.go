// Package cli is natssl's command line: flags, printing and exit codes. Each subcommand has a
// file of its own with an options struct that owns its flags (registered by leaf, withArgs and
// group in newRoot); the work is one call into internal/pipeline (or the tracker, or fmnist),
// and the result is printed: a table for people, and with --json a JSON line for scripts.
// Wherever a run is taken, the tracker's one resolver reads the reference (an id or prefix, a
// name, NAME@K, latest). Progress goes to stderr through the console Observer: a bar with
// summary lines on a terminal, lines otherwise. Shell completion (cobra's) is taught natssl's
// values in completion.go. Exit codes are decided in one place (exitCode, and run for signals),
// from the errors' types: 0 success, 1 runtime failure, 2 usage or configuration error (cobra's
// own argument errors, a --set that is not key=value, a run reference that names no run or
// several), 128 + the signal's number after SIGINT or SIGTERM.
package cli
