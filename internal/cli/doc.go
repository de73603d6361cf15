// Package cli is natssl's command line: one file per subcommand, each with an options struct,
// flag parsing kept apart from the work. Errors are mapped to exit codes in one place (Main):
// 0 success, 1 runtime failure, 2 usage or configuration error.
package cli
