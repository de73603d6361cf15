// Package regfile opens and reads the files natssl is pointed at (configs, NeWT CSVs,
// manifests, checkpoints, images) safely: only regular files, never blocking, and never more
// than a stated number of bytes. A path that names a FIFO, a device (/dev/zero), a socket or a
// folder is refused at once, without reading and without waiting for a writer that may never
// come (which would also keep the process from answering a signal); a file over its limit is
// refused from its size, unread.
//
// It is the one rule for reading input files; what the limits are is each caller's.
package regfile
