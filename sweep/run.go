package sweep

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/natssl/natssl/experiments"
)

// Launcher runs one trial to its end (RunTrial, somewhere); slot, from 0, is which of the
// parallel places it runs in. Exec runs it in a child process.
type Launcher interface {
	Launch(ctx context.Context, s *Sweep, n, slot int) error
}

// RunOptions configure Run.
type RunOptions struct {
	Parallel int // trials at once; default 1
	Launcher Launcher
	Progress io.Writer // progress lines; nil: none
	// Every is how often the trials in flight are reported; default a minute, < 0 never.
	Every time.Duration
}

// Result is where a sweep stands after Run.
type Result struct {
	Status []TrialStatus
	Best   *TrialStatus
	Failed []int // trials whose attempt in this Run failed
	Busy   []int // trials another process was training, left alone
}

// Run runs the trials of s that need work, Parallel at a time, each through the Launcher,
// and reports progress: each trial as it starts and ends (trial i of n, its score, the best so
// far) and, every so often, the steps of those in flight. Finished trials are skipped, so
// running a sweep again resumes it. On cancellation no trial is started, those in flight are
// stopped by the Launcher (their runs keep their checkpoints), and the error says how to
// resume. After the first trials fail before any succeeds, no more are started.
func Run(ctx context.Context, db *experiments.DB, s *Sweep, opt RunOptions) (*Result, error) {
	if opt.Parallel <= 0 {
		opt.Parallel = 1
	}
	if opt.Every == 0 {
		opt.Every = time.Minute
	}
	out := opt.Progress
	if out == nil {
		out = io.Discard
	}
	sts, err := Status(ctx, db, s)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	var todo []int
	done := 0
	for _, st := range sts {
		switch {
		case st.State.Finished():
			done++
		case st.State == Running:
			res.Busy = append(res.Busy, st.N)
		default:
			todo = append(todo, st.N)
		}
	}
	total := len(s.Trials)
	fmt.Fprintf(out, "sweep %s: %s\n", s.Short(), s.Describe())
	budget := "no time limit"
	if b := s.Budget(); b > 0 {
		budget = b.String() + " per trial"
	}
	fmt.Fprintf(out, "  judged on the validation suite %s; %s; %d done, %d to run, %d at a time; logs in %s\n",
		s.Base.Eval.ValCSV, budget, done, len(todo), min(opt.Parallel, max(len(todo), 1)), s.Dir())
	if len(res.Busy) > 0 {
		fmt.Fprintf(out, "  trials %s are being trained by another process: left alone\n", joinInts(res.Busy))
	}

	type event struct {
		n       int
		started bool
		err     error
		handled chan struct{} // closed once the end of a trial is taken in, before the next starts
	}
	events := make(chan event)
	var mu sync.Mutex
	next, stop := 0, false
	pop := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if stop || next >= len(todo) || ctx.Err() != nil {
			return 0, false
		}
		next++
		return todo[next-1], true
	}
	var wg sync.WaitGroup
	for slot := range min(opt.Parallel, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n, ok := pop(); ok; n, ok = pop() {
				events <- event{n: n, started: true}
				handled := make(chan struct{})
				events <- event{n: n, err: opt.Launcher.Launch(ctx, s, n, slot), handled: handled}
				<-handled
			}
		}()
	}
	go func() { wg.Wait(); close(events) }()

	var tick <-chan time.Time
	if opt.Every > 0 {
		t := time.NewTicker(opt.Every)
		defer t.Stop()
		tick = t.C
	}
	inFlight := map[int]time.Time{}
	succeeded := 0
	for events != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.started {
				inFlight[ev.n] = time.Now()
				t, _ := s.Trial(ev.n)
				fmt.Fprintf(out, "trial %d of %d: %s (seed %d)\n", ev.n, total, Values(t), t.Seed)
				continue
			}
			took := time.Since(inFlight[ev.n])
			handled := ev.handled
			delete(inFlight, ev.n)
			if now, err := Status(context.WithoutCancel(ctx), db, s); err == nil {
				sts = now
			} else {
				fmt.Fprintf(out, "sweep %s: %v\n", s.Short(), err)
			}
			st := sts[ev.n-1]
			switch {
			case ev.err != nil && ctx.Err() != nil:
				fmt.Fprintf(out, "trial %d of %d stopped after %s (%s)\n", ev.n, total, took.Round(time.Second), st.State)
			case ev.err != nil:
				res.Failed = append(res.Failed, ev.n)
				fmt.Fprintf(out, "trial %d of %d failed after %s: %v\n", ev.n, total, took.Round(time.Second), ev.err)
				if succeeded == 0 {
					mu.Lock()
					if !stop && next < len(todo) {
						fmt.Fprintf(out, "sweep %s: trial %d failed before any trial finished: starting no more (fix the cause, then natssl sweep --resume %s)\n",
							s.Short(), ev.n, s.Short())
					}
					stop = true
					mu.Unlock()
				}
			default:
				succeeded++
				fmt.Fprintf(out, "trial %d of %d %s in %s%s; %s\n", ev.n, total, st.State, took.Round(time.Second), scoreText(st), bestText(sts))
			}
			close(handled)
		case <-tick:
			if len(inFlight) > 0 {
				fmt.Fprintln(out, flightText(ctx, db, s, inFlight, sts))
			}
		}
	}
	if sts, err = Status(context.WithoutCancel(ctx), db, s); err != nil {
		return nil, err
	}
	res.Status, res.Best = sts, Best(sts)
	finished, diverged := 0, 0
	for _, st := range sts {
		if st.State.Finished() {
			finished++
		}
		if st.State == Diverged {
			diverged++
		}
	}
	line := fmt.Sprintf("sweep %s: %d of %s finished", s.Short(), finished, count(total, "trial"))
	if diverged > 0 {
		line += fmt.Sprintf(" (%d diverged)", diverged)
	}
	if res.Best != nil {
		line += fmt.Sprintf("; best: trial %d, validation %.4f, %s", res.Best.N, res.Best.Score.Mean, Values(res.Best.SweepTrial))
	}
	fmt.Fprintln(out, line)
	fmt.Fprintf(out, "  the table and plots: natssl report --sweep %s --out DIR\n", s.Short())
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("sweep %s: stopped (%w): natssl sweep --resume %s continues it", s.Short(), context.Cause(ctx), s.Short())
	case len(res.Failed) > 0:
		slices.Sort(res.Failed)
		what := fmt.Sprintf("%d trials failed", len(res.Failed))
		if len(res.Failed) == 1 {
			what = "1 trial failed"
		}
		return res, fmt.Errorf("sweep %s: %s (%s): natssl sweep --resume %s runs them again", s.Short(), what, joinInts(res.Failed), s.Short())
	}
	return res, nil
}

// scoreText is a finished trial's result for its progress line.
func scoreText(st TrialStatus) string {
	var b strings.Builder
	if st.Score != nil {
		fmt.Fprintf(&b, ": validation %.4f over %d tasks", st.Score.Mean, st.Score.Tasks)
	}
	if st.Run != nil {
		fmt.Fprintf(&b, ", %d steps", st.Step)
	}
	return b.String()
}

// bestText names the best trial so far.
func bestText(sts []TrialStatus) string {
	best := Best(sts)
	if best == nil {
		return "no trial scored yet"
	}
	return fmt.Sprintf("best so far: trial %d (%.4f)", best.N, best.Score.Mean)
}

// flightText reports the trials in flight: their step of the total and time so far.
func flightText(ctx context.Context, db *experiments.DB, s *Sweep, inFlight map[int]time.Time, sts []TrialStatus) string {
	ns := make([]int, 0, len(inFlight))
	for n := range inFlight {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	runs, _ := db.SweepRuns(ctx, s.ID)
	newest := map[int]string{}
	for _, r := range runs {
		newest[r.Trial] = r.RunID
	}
	parts := make([]string, len(ns))
	for i, n := range ns {
		step := int64(0)
		if id, ok := newest[n]; ok {
			if ms, err := db.LatestMetrics(ctx, id); err == nil {
				for _, m := range ms {
					step = max(step, m.Step)
				}
			}
		}
		parts[i] = fmt.Sprintf("trial %d at step %d of %d (%s)", n, step, s.steps(n), time.Since(inFlight[n]).Round(time.Second))
	}
	return fmt.Sprintf("sweep %s: %s; %s", s.Short(), strings.Join(parts, ", "), bestText(sts))
}

// steps is trial n's train.steps.
func (s *Sweep) steps(n int) int64 {
	t, _ := s.Trial(n)
	for _, kv := range t.Values {
		if kv.Key == "train.steps" {
			var v int64
			fmt.Sscan(kv.Value, &v)
			return v
		}
	}
	return int64(s.Base.Train.Steps)
}

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprint(n)
	}
	return strings.Join(parts, ", ")
}
