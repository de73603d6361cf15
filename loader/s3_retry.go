package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	smithy "github.com/aws/smithy-go"
)

// ErrUnavailable is wrapped by the error of an S3 read that kept failing for
// data.s3.retry_for: the store is down or unreachable. It is never skipped as bad input: the
// loader stops with it, naming the shard, and a run stops with a checkpoint to resume from.
var ErrUnavailable = errors.New("loader: storage unavailable")

// s3Retry is how S3 calls retry. Each request gets the SDK's standard retries (throttling,
// 5xx, connection errors: Attempts tries, backoff up to MaxBackoff); around them the loader
// retries for data.s3.retry_for what still failed, reading a body that broke off included,
// with backoff up to MaxBackoff. HeaderTimeout bounds the wait for a response's headers and
// IdleTimeout a body that stops sending, so that a stalled connection is retried rather than
// waited on forever. Tests shorten them.
var s3Retry = struct {
	Attempts      int
	MaxBackoff    time.Duration
	HeaderTimeout time.Duration
	IdleTimeout   time.Duration
	LogEvery      time.Duration // how often an outage is reported while it lasts
}{Attempts: 3, MaxBackoff: 5 * time.Second, HeaderTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second, LogEvery: 30 * time.Second}

// transient reports whether a failed S3 call may succeed if tried again: the SDK gave up on a
// retryable error, or a body broke off (not an answer from S3, not a cancellation). A missing
// key and what is marked permanent (an object too large, one that changed) are not.
func transient(err error) bool {
	var p *permanent
	if errors.As(err, &p) || errors.Is(err, fs.ErrNotExist) {
		return false
	}
	var me *retry.MaxAttemptsError
	if errors.As(err, &me) {
		return true
	}
	return retryableBody(err)
}

// permanent marks an error that retrying cannot mend (its cause is still seen by errors.Is).
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// DefaultS3RetryFor is data.s3.retry_for when a configs.S3 leaves it 0 (one built in code).
const DefaultS3RetryFor = 10 * time.Minute

// retryableBody reports whether err is a response that broke off rather than an answer
// from S3 (which has an error code and was already retried by the SDK where that helps).
func retryableBody(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// sleepBackoff waits before retry attempt (1, 2, ...): exponential from 50 ms with full
// jitter, capped at maxBackoff.
func sleepBackoff(ctx context.Context, attempt int, maxBackoff time.Duration) error {
	d := min(50*time.Millisecond<<min(attempt-1, 10), maxBackoff)
	d = time.Duration(rand.Int64N(int64(d) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// streak is a run of failures of one read: when it began and how many attempts failed.
type streak struct {
	since    time.Time
	attempts int
}

// failed records a failure of an attempt begun at began and says whether to try again (false
// once data.s3.retry_for has passed since the streak's first attempt began).
func (s *streak) failed(began, now time.Time, retryFor time.Duration) bool {
	if s.attempts == 0 {
		s.since = began
	}
	s.attempts++
	return now.Sub(s.since) < retryFor
}

// retry runs op until it succeeds, fails in a way that trying again cannot mend, or has kept
// failing for data.s3.retry_for; what names the call for messages. The error of a call that
// kept failing wraps ErrUnavailable.
func (s *s3Store) retry(ctx context.Context, what string, op func() error) error {
	var st streak
	for {
		began := time.Now()
		err := op()
		if err == nil {
			if st.attempts > 0 {
				s.health.recovered(ctx)
			}
			return nil
		}
		if ctx.Err() != nil || !transient(err) {
			return err
		}
		if !st.failed(began, time.Now(), s.retryFor) {
			return s.unavailable(what, st, err)
		}
		s.health.failed(ctx, what, err, s.retryFor)
		if err := sleepBackoff(ctx, st.attempts, s.backoff()); err != nil {
			return err
		}
	}
}

// backoff is the longest wait between two attempts (see backoffFor).
func (s *s3Store) backoff() time.Duration { return backoffFor(s.retryFor) }

// backoffFor is the longest wait between two attempts within a retry window of d:
// s3Retry.MaxBackoff, or a tenth of d when that is shorter, so that a short window gets
// several tries.
func backoffFor(d time.Duration) time.Duration { return min(s3Retry.MaxBackoff, d/10) }

// changed is the error of a read that found another version of the object than the one it
// began with: its bytes cannot be joined to those already read.
func (s *s3Store) changed(key, etag, was string) error {
	return &permanent{fmt.Errorf("loader: get %s: object changed while reading (etag %s, was %s)", s.uri(key), etag, was)}
}

// unavailable is the error of a call that kept failing.
func (s *s3Store) unavailable(what string, st streak, err error) error {
	return fmt.Errorf("loader: %s: %w: still failing after %s and %d attempts (data.s3.retry_for %s): %v",
		what, ErrUnavailable, time.Since(st.since).Round(time.Second), st.attempts, s.retryFor, err)
}

// health reports the outages of one store to the user: the first failure at once, then how
// it goes every s3Retry.LogEvery, then the recovery; many fetchers failing at once make one
// report.
type health struct {
	mu       sync.Mutex
	endpoint string
	failing  bool
	since    time.Time
	lastLog  time.Time
	failures int
}

func (h *health) failed(ctx context.Context, what string, err error, retryFor time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	h.failures++
	switch {
	case !h.failing:
		h.failing, h.since, h.lastLog, h.failures = true, now, now, 1
		notify(ctx, fmt.Sprintf("s3: %s failed, retrying for up to %s (data.s3.retry_for): %v", what, retryFor, err))
	case now.Sub(h.lastLog) >= s3Retry.LogEvery:
		h.lastLog = now
		notify(ctx, fmt.Sprintf("s3: %s still failing after %s (%d failed attempts so far): %v",
			h.endpoint, now.Sub(h.since).Round(time.Second), h.failures, err))
	}
}

func (h *health) recovered(ctx context.Context) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.failing {
		return
	}
	h.failing = false
	notify(ctx, fmt.Sprintf("s3: %s answers again after %s (%d failed attempts)", h.endpoint, time.Since(h.since).Round(time.Second), h.failures))
}

// notifyKey carries the function that hears the loader's notices.
type notifyKey struct{}

// WithNotify returns a context whose loader calls (Open, and New's workers, which keep the
// values of New's context) report what the user should hear to fn: S3 failures being retried,
// and their recovery. fn may be called from several goroutines.
func WithNotify(ctx context.Context, fn func(msg string)) context.Context {
	return context.WithValue(ctx, notifyKey{}, fn)
}

func notify(ctx context.Context, msg string) {
	if fn, ok := ctx.Value(notifyKey{}).(func(string)); ok && fn != nil {
		fn(msg)
	}
}

// idleReader closes a body whose Read has waited timeout without a byte, so that a Read
// blocked on a stalled connection returns (with an error, retried as a broken body) instead of
// waiting forever. Only time spent inside Read counts: a consumer that pauses between reads
// does not stall the body.
type idleReader struct {
	rc      io.ReadCloser
	timeout time.Duration
	stalled atomic.Bool
}

func newIdleReader(rc io.ReadCloser, timeout time.Duration) *idleReader {
	return &idleReader{rc: rc, timeout: timeout}
}

func (r *idleReader) Read(p []byte) (int, error) {
	t := time.AfterFunc(r.timeout, func() { r.stalled.Store(true); r.rc.Close() })
	n, err := r.rc.Read(p)
	t.Stop()
	if r.stalled.Load() {
		if err == nil || err == io.EOF {
			err = errStalled
		} else {
			err = fmt.Errorf("%w: %v", errStalled, err)
		}
	}
	return n, err
}

func (r *idleReader) Close() error { return r.rc.Close() }

// errStalled is a body that sent nothing for s3Retry.IdleTimeout.
var errStalled = errors.New("connection stalled: no data within the idle timeout")
