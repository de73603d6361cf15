package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/redact"
	"github.com/natssl/natssl/internal/regfile"
)

// s3Store reads one bucket.
type s3Store struct {
	client      *s3.Client
	bucket      string
	concurrency int           // GETs in flight per stream (data.s3.concurrency)
	limit       int64         // the most bytes an image object may have to be read
	retryFor    time.Duration // data.s3.retry_for
	health      *health

	transport atomic.Pointer[http.Transport] // built on the first request
}

// ParseS3URI splits s3://bucket/prefix.
func ParseS3URI(uri string) (bucket, prefix string, err error) {
	return parseS3URI(uri)
}

func parseS3URI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("loader: %q is not an s3:// URI", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("loader: %q names no bucket", uri)
	}
	return bucket, prefix, nil
}

// newS3Store connects to the bucket of uri with region, endpoint and anonymous access from c.
func newS3Store(ctx context.Context, uri string, c configs.S3) (*s3Store, string, error) {
	bucket, prefix, err := parseS3URI(uri)
	if err != nil {
		return nil, "", err
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = "s3://" + bucket
	}
	store := &s3Store{bucket: bucket, concurrency: c.Concurrency, limit: DefaultMaxImageBytes,
		retryFor: retryFor(c), health: &health{endpoint: redact.String(endpoint)}}
	client, err := newS3Client(ctx, c, func(t *http.Transport) { store.transport.Store(t) })
	if err != nil {
		return nil, "", fmt.Errorf("loader: s3 config for %s: %w", uri, err)
	}
	store.client = client
	return store, prefix, nil
}

// retryFor is data.s3.retry_for, DefaultS3RetryFor where a configs.S3 built in code leaves it 0.
func retryFor(c configs.S3) time.Duration {
	if d := c.RetryFor.D(); d > 0 {
		return d
	}
	return DefaultS3RetryFor
}

// NewS3Client returns a client configured as the loader's own (region, endpoint, anonymous
// access from c; the standard retryer without a retry budget, stalled responses timed out),
// for other readers and writers of the same stores.
func NewS3Client(ctx context.Context, c configs.S3) (*s3.Client, error) {
	return newS3Client(ctx, c, nil)
}

// newS3Client builds the client. Credentials come from the SDK's default chain unless
// c.Anonymous, which sends unsigned requests (public open-data buckets). The SDK's tuned
// HTTP client gets room for an idle connection per fetcher and a bound on the wait for a
// response's headers (a server that accepts and says nothing is retried, not waited on);
// gotTransport, when set, is handed the transport it builds, so that its connections can be
// released.
func newS3Client(ctx context.Context, c configs.S3, gotTransport func(*http.Transport)) (*s3.Client, error) {
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 64
		t.ResponseHeaderTimeout = s3Retry.HeaderTimeout
		if gotTransport != nil {
			gotTransport(t)
		}
	})
	opts := []func(*config.LoadOptions) error{config.WithRegion(region), config.WithHTTPClient(hc)}
	if c.Anonymous {
		opts = append(opts, config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.DisableLogOutputChecksumValidationSkipped = true // S3-compatible stores often send none
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.UsePathStyle = true
		}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = s3Retry.Attempts
			so.MaxBackoff = backoffFor(retryFor(c))
			so.RateLimiter = ratelimit.None // never give up because a retry budget ran out
		})
	}), nil
}

func (s *s3Store) uri(key string) string { return "s3://" + s.bucket + "/" + key }

// Close releases idle connections.
func (s *s3Store) Close() error {
	if t := s.transport.Load(); t != nil {
		t.CloseIdleConnections()
	}
	return nil
}

// list calls fn for every object under prefix after startAfter, in key order, one page of at
// most 1,000 keys in memory at a time; fn returns false to stop.
func (s *s3Store) list(ctx context.Context, prefix, startAfter string, fn func(types.Object) bool) error {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix}
	if startAfter != "" {
		in.StartAfter = &startAfter
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		// A page that failed is asked for again (the paginator only advances on success).
		var page *s3.ListObjectsV2Output
		err := s.retry(ctx, "list "+s.uri(prefix), func() (err error) {
			page, err = p.NextPage(ctx)
			return err
		})
		if err != nil {
			return fmt.Errorf("loader: list %s: %w", s.uri(prefix), err)
		}
		for _, o := range page.Contents {
			if !fn(o) {
				return nil
			}
		}
	}
	return nil
}

// get reads one object whole, retrying for data.s3.retry_for; a missing key wraps
// fs.ErrNotExist, an object over data.max_image_bytes regfile.ErrTooLarge, and one that kept
// failing ErrUnavailable.
func (s *s3Store) get(ctx context.Context, key string) ([]byte, error) {
	var data []byte
	err := s.retry(ctx, "get "+s.uri(key), func() error {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
		if err != nil {
			return s.wrap("get", key, err)
		}
		if n := aws.ToInt64(out.ContentLength); n > s.limit {
			out.Body.Close()
			return &permanent{fmt.Errorf("loader: get %s: %w: %d bytes, over data.max_image_bytes %d", s.uri(key), regfile.ErrTooLarge, n, s.limit)}
		}
		body := newIdleReader(out.Body, s3Retry.IdleTimeout)
		data, err = io.ReadAll(regfile.LimitReader(body, s.uri(key), s.limit))
		body.Close()
		if errors.Is(err, regfile.ErrTooLarge) {
			return &permanent{err}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// wrap names the object and maps a missing key to fs.ErrNotExist.
func (s *s3Store) wrap(op, key string, err error) error {
	var nsk *types.NoSuchKey
	var re *smithyhttp.ResponseError
	var ae smithy.APIError
	if errors.As(err, &nsk) || errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound ||
		errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey" {
		return fmt.Errorf("loader: %s %s: %w", op, s.uri(key), fs.ErrNotExist)
	}
	return fmt.Errorf("loader: %s %s: %w", op, s.uri(key), err)
}

// open returns a shard object as one stream: with data.s3.concurrency above one, from
// that many range GETs at once; else from one GET that resumes where it broke. Either way a
// request that fails is retried for data.s3.retry_for.
func (s *s3Store) open(ctx context.Context, key string) (io.ReadCloser, error) {
	if s.concurrency > 1 {
		return s.streamParallel(ctx, key, s.concurrency)
	}
	return s.stream(ctx, key)
}

// stream returns the object as one reader that survives broken and stalled connections:
// after a failed read it asks again from the byte it had reached (a Range request), checking
// that the object is the same version (ETag), so no byte is lost or repeated; it gives up, with
// ErrUnavailable, when no byte has arrived for data.s3.retry_for.
func (s *s3Store) stream(ctx context.Context, key string) (io.ReadCloser, error) {
	r := &s3Stream{ctx: ctx, s: s, key: key, size: -1}
	if err := s.retry(ctx, "get "+s.uri(key), r.reopen); err != nil {
		return nil, err
	}
	return r, nil
}

type s3Stream struct {
	ctx  context.Context
	s    *s3Store
	key  string
	etag string
	off  int64
	size int64 // -1 until known
	body io.ReadCloser
	st   streak // failures since the last byte that arrived
}

func (r *s3Stream) reopen() error {
	in := &s3.GetObjectInput{Bucket: &r.s.bucket, Key: &r.key}
	if r.off > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.off))
	}
	out, err := r.s.client.GetObject(r.ctx, in)
	if err != nil {
		return r.s.wrap("get", r.key, err)
	}
	etag := aws.ToString(out.ETag)
	if r.etag != "" && etag != "" && etag != r.etag {
		out.Body.Close()
		return r.s.changed(r.key, etag, r.etag)
	}
	if r.etag == "" {
		r.etag = etag
	}
	if r.size < 0 && r.off == 0 && out.ContentLength != nil {
		r.size = *out.ContentLength
	}
	body := newIdleReader(out.Body, s3Retry.IdleTimeout)
	if r.off > 0 && !strings.HasPrefix(aws.ToString(out.ContentRange), fmt.Sprintf("bytes %d-", r.off)) {
		// A server that ignored the Range sends the object from its start: skip what we have.
		if _, err := io.CopyN(io.Discard, body, r.off); err != nil {
			body.Close()
			return fmt.Errorf("loader: get %s: skip to byte %d: %w", r.s.uri(r.key), r.off, err)
		}
	}
	r.body = body
	return nil
}

func (r *s3Stream) Read(p []byte) (int, error) {
	for {
		if r.size >= 0 && r.off >= r.size {
			return 0, io.EOF // everything arrived; a reset after the last byte is no loss
		}
		if r.body == nil {
			if err := r.reopen(); err != nil {
				if err := r.failed(err); err != nil {
					return 0, err
				}
				continue
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if n > 0 && r.st.attempts > 0 {
			r.st = streak{}
			r.s.health.recovered(r.ctx)
		}
		switch {
		case err == io.EOF && r.size >= 0 && r.off < r.size:
			err = io.ErrUnexpectedEOF // the connection ended early
		case err == nil || err == io.EOF:
			return n, err
		}
		r.body.Close()
		r.body = nil
		if n > 0 {
			return n, nil // hand over what arrived; the next call reopens from r.off
		}
		if err := r.failed(err); err != nil {
			return 0, err
		}
	}
}

// failed handles a read or reopen that failed: an error retrying cannot mend is returned,
// others are waited out with backoff until no byte has arrived for data.s3.retry_for.
func (r *s3Stream) failed(cause error) error {
	if r.ctx.Err() != nil {
		return r.ctx.Err()
	}
	if !transient(cause) {
		return cause
	}
	what := fmt.Sprintf("read %s at byte %d", r.s.uri(r.key), r.off)
	now := time.Now()
	if !r.st.failed(now, now, r.s.retryFor) {
		return r.s.unavailable(what, r.st, cause)
	}
	r.s.health.failed(r.ctx, what, cause, r.s.retryFor)
	return sleepBackoff(r.ctx, r.st.attempts, r.s.backoff())
}

func (r *s3Stream) Close() error {
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}

// joinKey joins an S3 prefix and a relative name with one slash.
func joinKey(prefix, name string) string {
	if prefix == "" || strings.HasSuffix(prefix, "/") {
		return prefix + name
	}
	return prefix + "/" + name
}
