// Package cli is natssl's command line: flags, printing and exit codes. Each subcommand has a
// file of its own with an options struct that owns its flags; the work is one call into
// internal/pipeline (or the tracker, or fmnist), and the result is printed: a table for people,
// and with --json a JSON line for scripts. Progress goes to stderr through the console
// Observer. Exit codes are decided in one place (exitCode), from the errors' types: 0 success,
// 1 runtime failure, 2 usage or configuration error (cobra's own argument errors included).
package cli
