package cli

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mattn/go-isatty"
	"github.com/natssl/natssl/repack"
	"github.com/schollz/progressbar/v3"
)

// fmtCounts writes counts by reason, in a stable order.
func fmtCounts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// shardProgress shows repack's progress on stderr: a bar on a terminal (over images when
// their count is known, else a running count), a line every 10 s otherwise.
type shardProgress struct {
	w    io.Writer
	tty  bool
	bar  *progressbar.ProgressBar
	last time.Time
}

func newShardProgress(w io.Writer) *shardProgress {
	f, ok := w.(*os.File)
	return &shardProgress{w: w, tty: ok && isatty.IsTerminal(f.Fd()), last: time.Now()}
}

func (p *shardProgress) show(pr repack.Progress) {
	mbs := float64(pr.Bytes) / 1e6 / max(pr.Elapsed.Seconds(), 1e-9)
	if !p.tty {
		if time.Since(p.last) >= 10*time.Second {
			p.last = time.Now()
			fmt.Fprintf(p.w, "natssl: data shard: %d images, %d shards, %s written, %.1f MB/s\n", pr.Images, pr.Shards, humanize.Bytes(uint64(pr.Bytes)), mbs)
		}
		return
	}
	if p.bar == nil {
		total := pr.Total
		if total == 0 {
			total = -1 // a spinner with a count
		}
		p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription("shard"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	_ = p.bar.Set64(pr.Images)
	p.bar.Describe(fmt.Sprintf("shard %d, %.1f MB/s", pr.Shards, mbs))
}

func (p *shardProgress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
