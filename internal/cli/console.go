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
	"github.com/natssl/natssl/trainer"
)

// console shows a pipeline call's progress on stderr: notices as "natssl: ..." lines; training
// as a bar on a terminal and as a line every train.log_every steps otherwise, the online
// monitor's scores at the end of the line of each step it ran at (and of the bar); feature
// extraction as a count redrawn in place on a terminal and as a line every quarter otherwise.
type console struct {
	w   io.Writer
	tty bool

	mu       sync.Mutex // notices may come from the heartbeat's goroutine
	bar      *progressbar.ProgressBar
	logEvery int64
	quarter  float64 // the next quarter of feature extraction to log
	monitor  string  // the online monitor's last scores, as monitorText writes them
}

var _ pipeline.Observer = (*console)(nil)

func newConsole(w io.Writer) *console {
	f, ok := w.(*os.File)
	return &console{w: w, tty: ok && isatty.IsTerminal(f.Fd()), quarter: 0.25}
}

func (c *console) Notice(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bar != nil {
		_ = c.bar.Clear() // the bar is drawn again at the next step
	}
	fmt.Fprintln(c.w, "natssl: "+msg)
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
	fmt.Fprintf(c.w, "natssl: run %s: %s %s, %s w=%d%s, batch %d on %d replica(s) [%s], %d steps; checkpoints in %s\n",
		s.RunID, cfg.Run.Name, cfg.Method.Name, cfg.Model.Backbone, cfg.Model.Width, views, cfg.Data.BatchSize, cfg.Replicas(),
		trainer.BLAS, s.TotalSteps, s.CheckpointDir)
	c.logEvery = int64(max(cfg.Train.LogEvery, 1))
	if c.tty {
		c.bar = progressbar.NewOptions64(s.TotalSteps, progressbar.OptionSetWriter(c.w), progressbar.OptionSetDescription("train"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	}
}

func (c *console) Step(s trainer.StepInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.Metrics != nil {
		c.monitor = monitorText(s.Metrics)
	}
	if c.bar != nil {
		_ = c.bar.Set64(s.Step)
		c.bar.Describe(fmt.Sprintf("train loss %.4f  %.0f img/s%s", s.Loss, s.ImagesPerS, c.monitor))
		return
	}
	switch {
	case s.Step == 0 && s.Metrics != nil: // the monitor on the initial model
		fmt.Fprintf(c.w, "step 0/%d  initial model%s\n", s.Total, c.monitor)
	case s.Step%c.logEvery == 0 || s.Step == s.Total || s.Step == 1 || s.Metrics != nil:
		eta := ""
		if s.Step > 0 {
			left := time.Duration(float64(s.Elapsed) / float64(s.Step) * float64(s.Total-s.Step))
			eta = " eta " + left.Round(time.Second).String()
		}
		mon := ""
		if s.Metrics != nil {
			mon = c.monitor
		}
		fmt.Fprintf(c.w, "step %d/%d  epoch %d  loss %.4f  lr %.3g  %.1f img/s  elapsed %s%s%s\n",
			s.Step, s.Total, s.Epoch, s.Loss, s.LR, s.ImagesPerS, s.Elapsed.Round(time.Second), eta, mon)
	}
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
	if r := e.Result; e.Status == string(experiments.StatusFinished) && r != nil {
		fmt.Fprintf(c.w, "natssl: run %s finished (%s): %d steps, loss %.4f, %s; checkpoint %s\n",
			e.RunID, r.Reason, r.Step, r.Loss, r.Elapsed.Round(time.Second), r.Checkpoint)
	}
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
