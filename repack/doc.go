// Package repack rewrites a data set natssl reads (a folder, a manifest, tar archives, an
// S3 prefix) as plain tar shards train-000000.tar… and an iNat 2021-style manifest
// train.json that lists them with their sizes and SHA-256 (data.source can name it as it
// is), in a folder or under an S3 prefix (multipart uploads). Shards are what lets each
// data-parallel replica read only its share of the bytes, and many shards read at once beat
// one gzip stream.
//
// The set is cut from the source's records in their stored order, by size or into a count
// of shards, so it is the same whatever the parallelism; fetches and shard writers run at
// once up to Options.Jobs. A journal beside the shards records each finished one, so an
// interrupted run keeps them and redoes only the rest.
//
// Reading sources is the loader's (loader.Open, its Records and skip reasons); this package
// writes.
package repack
