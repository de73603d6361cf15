// Package loader streams training images from where they live and turns them into batches of
// two SimCLR views for the training loop.
//
// A Source is a collection of samples split into shards, each read as one sequential stream:
// a folder (one shard per directory), an iNaturalist 2021 COCO-style manifest (runs of its
// entries, resolved against a folder, a tar archive or an s3:// prefix), tar archives plain or
// gzip (one shard per archive, never extracted, never loaded whole) and s3:// prefixes (pages
// of keys, or one shard per tar object). Open picks the source from the shape of
// data.source.
//
// A Loader shuffles the shard order per epoch from the seed, mixes samples through a bounded
// shuffle buffer, gives this host its disjoint share (Options.Shard of Options.Shards), decodes
// and augments on a worker pool and hands out pooled float32 NCHW batches through a bounded
// prefetch queue. Every sample's augmentation comes from augment.SampleRNG(seed, epoch,
// index), where index is the sample's place in the epoch's stream, so batches are the same
// bytes whatever the number of workers. Bad input (corrupt or truncated images, zero-byte
// files, non-images, files over data.max_image_bytes, FIFOs and devices with image names,
// missing manifest entries) is skipped and counted by reason, never fatal: a bad sample is
// replaced by the next good one of the stream, so a batch is short only at the end of an
// epoch, and which samples make a batch depends on the stream alone, so that a resumed loader
// continues with the very batches that would have followed. A missing source or a manifest
// that is not JSON fails at Open.
//
// Memory stays flat as data grows: the loader holds the shard list (directories, tar
// archives, one entry per 1,000 S3 keys), the shuffle buffer, and at most prefetch+3 chunks
// of the stream, each with room for BatchSize samples and an eighth more (to make up for bad
// ones): 2*(BatchSize*9/8)*3*S*S float32s. Shuffle-buffer entries of per-file sources (folders, S3
// objects, manifests over folders or S3) are keys only; entries read from tar streams carry
// their JPEG bytes, so data.shuffle_buffer 8192 of iNat-size JPEGs (~45 KB) holds ~370 MB.
// A manifest's images are kept as compact records (id, category, interned folder, base
// name: about 70 bytes each, roughly 200 MB for iNat 2021's 2.7M entries).
//
// Host sharding is by position in the epoch's stream, so every host reads every shard (and
// skips, without fetching or decoding, the samples of other hosts): per-file sources skip for
// free, tar streams are read in full by each host.
//
// S3 reads retry what can be mended (throttling, 5xx, connections reset, cut or stalled) for
// data.s3.retry_for, telling of the outage and its end through the context's notifier
// (WithNotify); a read that kept failing stops the loader with ErrUnavailable naming the
// shard, never skipped as bad input. Every file, member or object is read within
// data.max_image_bytes, and only regular files are read (internal/regfile).
//
// The pixels (decode, augmentations) belong to the decode and augment packages; reading tar
// streams and the rule for archive names to internal/tarstream.
package loader
