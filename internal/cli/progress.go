package cli

import (
	"fmt"
	"math"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/trainer"
)

// trainProgress is what the console says about a training run's steps: when to print a
// summary line, what it says, and when the run will end.
type trainProgress struct {
	total, from int64         // the schedule's last step; the step this process started from
	every       int64         // a summary line every this many steps
	limit       time.Duration // train.time_limit; 0 for none
	lossSum     float64       // the steps' losses since the last line
	lossN       int64
}

// newTrainProgress prints a line every train.log_every steps; on a terminal, where a bar
// shows every step, about ten over the run (a round number of steps, at least log_every).
func newTrainProgress(cfg *configs.Config, total, from int64, tty bool) trainProgress {
	every := int64(max(cfg.Train.LogEvery, 1))
	if tty {
		every = max(every, roundSteps((total-from+9)/10))
	}
	return trainProgress{total: total, from: from, every: every, limit: cfg.Train.TimeLimit.D()}
}

// roundSteps rounds n up to 1, 2 or 5 times a power of ten.
func roundSteps(n int64) int64 {
	if n <= 1 {
		return 1
	}
	p := int64(math.Pow(10, math.Floor(math.Log10(float64(n)))))
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= n {
			return m * p
		}
	}
	return 10 * p
}

func (p *trainProgress) add(s trainer.StepInfo) {
	p.lossSum += s.Loss
	p.lossN++
}

// lineDue says whether step s gets a summary line: every p.every steps, the first step of this
// process, the last step of the schedule, or when forced (a minute without one).
func (p *trainProgress) lineDue(s trainer.StepInfo, force bool) bool {
	return force || s.Step%p.every == 0 || s.Step == p.from+1 || s.Step == p.total
}

// line is the summary of the steps since the previous line, ending at s.
func (p *trainProgress) line(s trainer.StepInfo) string {
	mean := ""
	if p.lossN > 1 {
		mean = fmt.Sprintf(" (mean of %d steps %.4f)", p.lossN, p.lossSum/float64(p.lossN))
	}
	p.lossSum, p.lossN = 0, 0
	rate := "" // measured over a logging window: none before the first
	if s.ImagesPerS > 0 {
		rate = fmt.Sprintf("  %.1f img/s", s.ImagesPerS)
	}
	return fmt.Sprintf("step %d/%d  epoch %d  loss %.4f%s  lr %.3g%s  elapsed %s  eta %s",
		s.Step, s.Total, s.Epoch, s.Loss, mean, s.LR, rate, s.Elapsed.Round(time.Second), p.eta(s))
}

// eta is the time left: the earlier of the schedule's end at this pace and train.time_limit.
func (p *trainProgress) eta(s trainer.StepInfo) string {
	done := s.Step - p.from
	if done <= 0 {
		return "?"
	}
	bySteps := time.Duration(float64(s.Elapsed) / float64(done) * float64(p.total-s.Step))
	if p.limit > 0 {
		if left := max(p.limit-s.Elapsed, 0); left < bySteps {
			return left.Round(time.Second).String() + " (time limit)"
		}
	}
	return bySteps.Round(time.Second).String()
}
