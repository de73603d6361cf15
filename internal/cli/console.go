package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
	"github.com/natssl/natssl/internal/pipeline"
	"github.com/natssl/natssl/internal/redact"
	"github.com/natssl/natssl/trainer"
)

// console shows a pipeline call's progress on stderr: notices as "natssl: ..." lines; training
// as a line every train.log_every steps, and on a terminal as a bar with summary lines that
// stay on screen above it (every tenth of the run, and at least every minute); the online
// monitor's scores at the end of the line of each step it ran at (on a terminal, in the bar);
// feature extraction as a count redrawn in place on a terminal and as a line every quarter
// otherwise.
type console struct {
	w   io.Writer
	tty bool
	// resume is the command that continues a run, printed after a stop; nil prints none.
	resume func(runID string) string

	mu       sync.Mutex // notices may come from the heartbeat's and the signal's goroutines
	bar      *progressbar.ProgressBar
	train    trainProgress
	quarter  float64 // the next quarter of feature extraction to log
	lastLine time.Time
	monitor  string // the online monitor's last scores, as monitorText writes them
}

var _ pipeline.Observer = (*console)(nil)

func newConsole(w io.Writer) *console {
	f, ok := w.(*os.File)
	return &console{w: w, tty: ok && isatty.IsTerminal(f.Fd()), quarter: 0.25}
}

func (c *console) Notice(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearBar()
	fmt.Fprintln(c.w, "natssl: "+redact.String(msg))
}

// clearBar erases the bar so that a line can be printed on its own; it is drawn again at the
// next step. Callers hold c.mu.
func (c *console) clearBar() {
	if c.bar != nil {
		_ = c.bar.Clear()
	}
}

func (c *console) RunStarted(s pipeline.RunStart) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg := s.Config
	views, sep := "", ", views "
	for _, g := range cfg.Augment.Crops { // multi-crop: its groups, count×size
		views += fmt.Sprintf("%s%d×%d", sep, g.Count, g.Size)
		sep = "+"
	}
	replicas := fmt.Sprintf("%d replica(s)", cfg.Replicas())
	if s.Ranks > 1 {
		replicas = fmt.Sprintf("%d ranks × %d replica(s)", s.Ranks, cfg.Replicas())
	}
	fmt.Fprintf(c.w, "natssl: run %s: %s %s, %s w=%d%s, batch %d on %s [%s], %d steps; checkpoints in %s\n",
		s.RunID, cfg.Run.Name, cfg.Method.Name, cfg.Model.Backbone, cfg.Model.Width, views, cfg.Data.BatchSize, replicas,
		trainer.BLAS, s.TotalSteps, s.CheckpointDir)
	var from int64
	if s.Resumed != nil {
		from = s.Resumed.Header.Step
	}
	c.train = newTrainProgress(cfg, s.TotalSteps, from, c.tty)
	c.lastLine = time.Now()
	if c.tty {
		c.bar = progressbar.NewOptions64(s.TotalSteps, progressbar.OptionSetWriter(c.w), progressbar.OptionSetDescription("train"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(false), progressbar.OptionSetWidth(25),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		_ = c.bar.Set64(from)
	}
}

func (c *console) Step(s trainer.StepInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mon := "" // the monitor's scores when it ran at this step
	if s.Metrics != nil {
		c.monitor = monitorText(s.Metrics)
		mon = c.monitor
	}
	if s.Step == 0 { // the monitor on the initial model, before the first step
		c.clearBar()
		fmt.Fprintf(c.w, "step 0/%d  initial model%s\n", s.Total, mon)
		return
	}
	c.train.add(s)
	if c.bar == nil {
		if c.train.lineDue(s, mon != "") {
			fmt.Fprintln(c.w, c.train.line(s)+mon)
		}
		return
	}
	if c.train.lineDue(s, time.Since(c.lastLine) >= time.Minute) {
		c.clearBar()
		fmt.Fprintln(c.w, c.train.line(s)+mon)
		c.lastLine = time.Now()
	}
	_ = c.bar.Set64(s.Step)
	c.bar.Describe(fmt.Sprintf("loss %.4f  %.0f img/s  eta %s%s", s.Loss, s.ImagesPerS, c.train.eta(s), c.monitor))
}

// monitorText is the online monitor's scores as the progress line shows them:
// "  | knn 71.3%  newt 80.2%  (1.4s)".
func monitorText(m map[string]float64) string {
	var b strings.Builder
	b.WriteString("  |")
	for _, x := range []struct{ key, name string }{{metric.MonitorKNN, "knn"}, {metric.MonitorNeWT, "newt"}} {
		if v, ok := m[x.key]; ok {
			fmt.Fprintf(&b, " %s %.1f%% ", x.name, 100*v)
		}
	}
	if v, ok := m[metric.MonitorSeconds]; ok {
		fmt.Fprintf(&b, " (%.1fs)", v)
	}
	return strings.TrimRight(b.String(), " ")
}

func (c *console) RunFinished(e pipeline.RunEnd) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar != nil {
		_ = c.bar.Finish()
		c.bar = nil
	}
	r := e.Result
	if r == nil {
		return
	}
	switch {
	case e.Status == string(experiments.StatusFinished):
		fmt.Fprintf(c.w, "natssl: run %s finished (%s): %d of %d steps, last loss %.4f, %s; checkpoint %s\n",
			e.RunID, stopWords(r.Reason), r.Step, c.train.total, r.Loss, r.Elapsed.Round(time.Second), r.Checkpoint)
	case e.Status == string(experiments.StatusKilled):
		fmt.Fprintf(c.w, "natssl: run %s stopped at step %d of %d, last loss %.4f; checkpoint %s\n",
			e.RunID, r.Step, c.train.total, r.Loss, r.Checkpoint)
	default:
		return
	}
	if r.Step < c.train.total && r.Checkpoint != "" && c.resume != nil {
		fmt.Fprintf(c.w, "natssl: continue it with: %s\n", c.resume(e.RunID))
	}
}

// stopWords says why a run ended, for people.
func stopWords(r trainer.StopReason) string {
	switch r {
	case trainer.StopTimeLimit:
		return "train.time_limit reached"
	case trainer.StopSteps:
		return "all steps done"
	case trainer.StopData:
		return "the data ended"
	}
	return string(r)
}

func (c *console) Progress(p pipeline.Progress) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rate := float64(p.Done) / p.Elapsed.Seconds()
	switch {
	case c.tty:
		fmt.Fprintf(c.w, "\r%s: %d/%d images, %.0f images/s ", p.Phase, p.Done, p.Total, rate)
		if p.Done == p.Total {
			fmt.Fprintln(c.w)
		}
	case float64(p.Done) >= c.quarter*float64(p.Total):
		fmt.Fprintf(c.w, "%s: %d/%d images, %.0f images/s\n", p.Phase, p.Done, p.Total, rate)
		c.quarter = float64(p.Done)/float64(p.Total) + 0.25
	}
	if p.Done == p.Total {
		c.quarter = 0.25
	}
}
