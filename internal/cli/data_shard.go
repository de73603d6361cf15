package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/repack"
)

func newDataShardCmd(e *env) *cobra.Command {
	return leaf("shard --from SOURCE --out DIR|s3://bucket/prefix/ [--shard-size 1GB|--shards N] [--jobs J]",
		"Repack any source natssl reads into plain tar shards and a manifest, for reading by many replicas",
		`Reads SOURCE as data.source would (a folder, a train.json manifest with --root as data.root,
tar archives or .tar.gz, an s3:// prefix; data.s3.* from the config reach S3) and writes
  OUT/train-000000.tar ...   the images in the source's order, about --shard-size each
                             (default 1GB; or --shards N of equal image counts)
  OUT/train.json             iNat 2021 form: ids, file names, sizes, labels; and the shards
                             with their bytes and SHA-256. Train with data.source=OUT/train.json.
OUT is a folder or s3://bucket/prefix/ (multipart uploads). Memory stays flat; --jobs J
fetches and writes J at a time (and uses J cores). If interrupted, run the same command
again: finished shards are kept and the rest redone. Bad images are skipped and counted.`,
		(*dataShardOptions).flags, func(cmd *cobra.Command, o *dataShardOptions) error { return o.run(cmd, e) })
}

// dataShardOptions are the flags of `natssl data shard`.
type dataShardOptions struct {
	From, Out, Root, ShardSize string
	Shards, Jobs               int
	JSON                       bool
}

func (o *dataShardOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.From, "from", "", "what to repack, as data.source: a folder, a .json manifest, tar archives, an s3:// prefix")
	f.StringVar(&o.Out, "out", "", "output folder or s3://bucket/prefix/")
	f.StringVar(&o.Root, "root", "", "data.root of a manifest source (default: beside it)")
	f.StringVar(&o.ShardSize, "shard-size", "", "bytes per shard, e.g. 1GB, 256MiB (default 1GB)")
	f.IntVar(&o.Shards, "shards", 0, "this many shards of equal image counts instead of --shard-size")
	f.IntVar(&o.Jobs, "jobs", runtime.NumCPU(), "fetches and shard writers at once, and cores used")
	f.BoolVar(&o.JSON, "json", false, "print a JSON summary as the last line")
}

// options turns the flags into repack's options, refusing what cannot work.
func (o *dataShardOptions) options() (repack.Options, error) {
	var r repack.Options
	switch {
	case o.From == "" || o.Out == "":
		return r, usageErr(errors.New("data shard: --from SOURCE and --out DIR|s3://... are required"))
	case o.ShardSize != "" && o.Shards != 0:
		return r, usageErr(errors.New("data shard: give --shard-size or --shards, not both"))
	case o.Shards < 0 || o.Jobs < 1:
		return r, usageErr(fmt.Errorf("data shard: --shards %d, --jobs %d: want --shards >= 1 and --jobs >= 1", o.Shards, o.Jobs))
	}
	if o.ShardSize != "" {
		n, err := humanize.ParseBytes(o.ShardSize)
		if err != nil || n == 0 || n > 1<<50 {
			return r, usageErr(fmt.Errorf("data shard: --shard-size %q: want a size such as 1GB or 256MiB", o.ShardSize))
		}
		r.ShardSize = int64(n)
	}
	r.Out, r.Shards, r.Jobs = o.Out, o.Shards, o.Jobs
	return r, nil
}

func (o *dataShardOptions) run(cmd *cobra.Command, e *env) error {
	r, err := o.options()
	if err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	r.Data = cfg.Data
	r.Data.Source, r.Data.Root = o.From, o.Root
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.Jobs))
	p := newShardProgress(e.Stderr)
	r.Progress = p.show
	sum, err := repack.Run(cmd.Context(), r)
	p.done()
	if errors.Is(err, repack.ErrExists) {
		return usageErr(fmt.Errorf("data shard: %w", err))
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("data shard: stopped; the finished shards are kept: run the same command again to go on: %w", err)
	}
	if err != nil {
		return fmt.Errorf("data shard: %w", err)
	}
	skipped := int64(0)
	for _, n := range sum.Skipped {
		skipped += n
	}
	fmt.Fprintf(e.Stdout, "%d images in %d shards (%s), manifest %s\n", sum.Images, sum.Shards, humanize.Bytes(uint64(sum.Bytes)), sum.Manifest)
	if sum.Resumed > 0 {
		fmt.Fprintf(e.Stdout, "  %d shards were finished by an earlier run and kept\n", sum.Resumed)
	}
	if skipped > 0 {
		fmt.Fprintf(e.Stdout, "  skipped %d bad images: %s\n", skipped, fmtCounts(sum.Skipped))
		for _, x := range sum.SkippedExamples {
			fmt.Fprintf(e.Stdout, "    %s\n", x)
		}
	}
	fmt.Fprintf(e.Stdout, "  train with: --set data.source=%s --set data.root=   (empty: the shards the manifest lists)\n", sum.Manifest)
	fmt.Fprintf(e.Stdout, "done in %.1fs: %.1f MB/s, %.0f images/s, %d jobs\n", sum.Seconds, sum.MBPerS, sum.ImagesPerS, sum.Jobs)
	if !o.JSON {
		return nil
	}
	return printJSONLine(e.Stdout, sum)
}
