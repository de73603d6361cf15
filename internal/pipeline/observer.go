package pipeline

import (
	"bytes"
	"sync"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/trainer"
)

// Observer hears how a call goes. Calls come from the goroutine running the pipeline call,
// except Notice, which the heartbeat may also call from its own goroutine.
type Observer interface {
	// Notice is one line worth telling the user: what is resumed, a checkpoint skipped, a
	// heartbeat that failed, a phase of a benchmark.
	Notice(msg string)
	// RunStarted is called once a training run is open, before its first step.
	RunStarted(RunStart)
	// Step is called after every training step.
	Step(trainer.StepInfo)
	// RunFinished is called when a training run has ended and its status is recorded.
	RunFinished(RunEnd)
	// Progress counts work done of a known total (images whose features are extracted).
	Progress(Progress)
}

// RunStart describes a training run about to take its first step.
type RunStart struct {
	RunID         string
	Config        *configs.Config
	TotalSteps    int64
	CheckpointDir string
	// Resumed is the checkpoint the run continues from; nil for a fresh start.
	Resumed *trainer.Checkpoint
	// Ranks is the number of processes (MPI ranks) training the run together, each with
	// Config.Replicas() replicas.
	Ranks int
}

// RunEnd describes a training run that has ended: FINISHED, KILLED or FAILED (Err set).
type RunEnd struct {
	RunID  string
	Status string
	Result *trainer.Result // nil when training never started
	Err    error
}

// Progress is counted progress of one phase.
type Progress struct {
	Phase       string // "features"
	Done, Total int
	Elapsed     time.Duration
}

// Discard is an Observer that ignores everything.
var Discard Observer = discard{}

type discard struct{}

func (discard) Notice(string)         {}
func (discard) RunStarted(RunStart)   {}
func (discard) Step(trainer.StepInfo) {}
func (discard) RunFinished(RunEnd)    {}
func (discard) Progress(Progress)     {}

// orDiscard lets callers pass a nil Observer.
func orDiscard(o Observer) Observer {
	if o == nil {
		return Discard
	}
	return o
}

// noticeWriter turns lines written to it (the trainer's log) into notices.
type noticeWriter struct {
	obs Observer
	mu  sync.Mutex
	buf []byte
}

func (w *noticeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if line := string(bytes.TrimRight(w.buf[:i], "\r")); line != "" {
			w.obs.Notice(line)
		}
		w.buf = w.buf[i+1:]
	}
}
