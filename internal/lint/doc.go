// Package lint holds rules about the repository's source that the compilers do not check,
// written as Go tests so that `go test ./...` enforces them. It has no code of its own.
package lint
