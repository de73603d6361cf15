// Package export writes a natssl encoder out of a checkpoint for other runtimes.
package export
