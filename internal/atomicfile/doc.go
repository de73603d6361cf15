// Package atomicfile replaces a file's content in one step: the new content is written to a
// temporary file in the same directory, fsynced, renamed over the path, and the directory is
// fsynced, so that a reader sees the old file or the new one and never a part, and a crash or
// a kill (a spot interruption) leaves one of the two on disk. Checkpoints, SageMaker
// artefacts, reports, .npy features and the demo data are all written through it.
//
// The temporary files come from github.com/google/renameio/v2 (a unique name beside the path,
// opened O_EXCL, fsynced before the rename, removed on failure). renameio stops at the rename;
// this package adds the directory fsync, without which the rename itself may not survive a
// crash, and pins the temporary file to the path's own directory (renameio may otherwise put
// it under $TMPDIR when that is on the same file system).
package atomicfile
