// Package loader streams training images from where they live and turns them into batches of
// augmented views for the training loop: two SimCLR views per image, or the groups of
// augment.crops (multi-crop), each image decoded once.
//
// A Source is a collection of samples split into shards, each read as one sequential stream:
// a folder (one shard per directory), an iNaturalist 2021 COCO-style manifest (runs of its
// entries, resolved against a folder, a tar archive or an s3:// prefix), tar archives plain or
// gzip (one shard per archive, never extracted, never loaded whole) and s3:// prefixes (pages
// of keys, or one shard per tar object). Open picks the source from the shape of
// data.source.
//
// A Loader shuffles the shard order per epoch from the seed, deals each epoch to the world's
// data-parallel replicas (Options.World, of which it feeds Replicas from global index
// Replica), mixes each replica's share through a bounded shuffle buffer of its own, decodes
// and augments on a worker pool and hands out pooled float32 NCHW batches through a bounded
// prefetch queue, each batch the parts of its replicas in replica order. Every sample's
// augmentation comes from augment.SampleRNG(seed, epoch, index), where index is the
// sample's place in its deal (for a world of one, its place in the epoch's stream), so
// batches are the same bytes whatever the number of workers, and whatever the number of
// processes the world's replicas are spread over. Bad input (corrupt or truncated images,
// zero-byte files, non-images, files over data.max_image_bytes, FIFOs and devices with image
// names, missing manifest entries, damaged shards) is skipped and counted by reason, never
// fatal: a replica's bad sample is replaced by the next good one of its own stream, so a
// replica's part of a batch is short only at the end of its share of an epoch, and which
// samples make a batch depends on the streams alone, so that a resumed loader continues with
// the very batches that would have followed. An epoch that gives a loader samples but not
// one good one stops it (ErrNoSource, with the counts by reason) rather than cycle forever.
// A missing source or a manifest that is not JSON fails at Open; storage that stays
// unreachable past data.s3.retry_for stops the loader with ErrUnavailable, naming the shard.
//
// Memory stays flat as data grows: the loader holds the shard list (directories, tar
// archives, one entry per 1,000 S3 keys), the shuffle buffers, and per replica at most
// prefetch+2 segments of its stream, each with room for its part of a batch (BatchSize/World)
// and an eighth more (to make up for bad samples): with one replica a segment whose part is all
// good is handed out as the batch, with several the parts are copied into batches, three of
// which at most are held. A sample takes 3*ΣS_v² float32s over its views (2*3*S*S without
// multi-crop).
// Shuffle-buffer entries of per-file sources (folders, S3 objects, manifests over folders or
// S3) are keys only; entries read from tar streams carry their JPEG bytes, so
// data.shuffle_buffer 8192 of iNat-size JPEGs (~45 KB) holds ~370 MB.
// A manifest's images are kept as compact records (id, category, interned folder, base
// name: about 70 bytes each, roughly 200 MB for iNat 2021's 2.7M entries).
//
// Sources of shard streams (tar archives, local or on S3) are dealt by shard: each replica
// reads a disjoint set of whole shards per epoch, about 1/World of the bytes, the last
// shards of an uneven count shared by sample so that the replicas' streams stay equal.
// Per-file sources (folders, manifests over folders or S3, S3 objects) are dealt by sample
// (every World-th), which costs nothing there: a replica lists every shard but fetches only
// its own samples. deal.go has the rules; Position what a resume needs, also with another
// world size.
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
