// Package tarstream reads tar archives, plain or gzip-compressed, as one sequential stream:
// nothing is extracted and no archive is held in memory. It holds the one rule that says by
// name which files are tar archives (IsName) and the one reader of their members (Reader),
// which the loader uses for training shards and the probe for NeWT's image archive.
//
// Compression is recognised by content (the gzip magic), never by name: the name only says
// that a file is an archive. What a member means (an image, its label, a NeWT id) is left to
// the callers.
package tarstream
