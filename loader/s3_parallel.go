package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithy "github.com/aws/smithy-go"
)

// s3PartSize is the byte range each GET of a parallel stream asks for. A stream holds at
// most data.s3.concurrency+1 parts in memory (40 MiB at the default 4). Tests shrink it.
var s3PartSize int64 = 8 << 20

// partPool recycles part buffers.
var partPool = sync.Pool{New: func() any { b := make([]byte, 0, s3PartSize); return &b }}

// streamParallel returns object key as one sequential stream whose parts are fetched by up
// to n range GETs at once, in order: a tar shard on S3 then arrives at n connections'
// throughput, with the same bytes in the same order as one GET would give. Every part must
// come from the version of the object the first one came from (ETag). Every request is retried
// for data.s3.retry_for (then the stream fails with ErrUnavailable). A server that ignores
// ranges is read with one GET.
func (s *s3Store) streamParallel(ctx context.Context, key string, n int) (io.ReadCloser, error) {
	first, size, etag, err := s.firstPart(ctx, key)
	if errors.Is(err, errNoRanges) {
		return s.stream(ctx, key)
	}
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &partStream{cur: first, cancel: cancel, queue: make(chan chan partResult, n)}
	go func() {
		defer close(p.queue)
		for off := int64(len(*first)); off < size; off += s3PartSize {
			res := make(chan partResult, 1)
			select {
			case p.queue <- res:
			case <-pctx.Done():
				return
			}
			end := min(off+s3PartSize, size) - 1
			go func() {
				b, err := s.getRange(pctx, key, etag, off, end)
				res <- partResult{b, err}
			}()
		}
	}()
	return p, nil
}

// errNoRanges says that the object is read with one GET: the server ignores ranges, or the
// object is empty.
var errNoRanges = errors.New("loader: the server ignores ranges")

// firstPart fetches the object's first part and learns its size and ETag, retrying for
// data.s3.retry_for.
func (s *s3Store) firstPart(ctx context.Context, key string) (part *[]byte, size int64, etag string, err error) {
	err = s.retry(ctx, "get "+s.uri(key), func() error {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key,
			Range: aws.String(fmt.Sprintf("bytes=0-%d", s3PartSize-1))})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "InvalidRange" {
			return &permanent{errNoRanges} // an empty object has no byte 0
		}
		if err != nil {
			return s.wrap("get", key, err)
		}
		defer out.Body.Close()
		cr := aws.ToString(out.ContentRange) // "bytes 0-N/SIZE"
		slash := strings.LastIndexByte(cr, '/')
		n, perr := strconv.ParseInt(cr[slash+1:], 10, 64)
		if slash < 0 || perr != nil {
			return &permanent{errNoRanges}
		}
		b, err := readPart(newIdleReader(out.Body, s3Retry.IdleTimeout), min(s3PartSize, n))
		if err != nil { // the body broke off or stalled: ask again
			return fmt.Errorf("loader: get %s bytes 0-%d: %w", s.uri(key), min(s3PartSize, n)-1, err)
		}
		part, size, etag = b, n, aws.ToString(out.ETag)
		return nil
	})
	if err != nil {
		return nil, 0, "", err
	}
	return part, size, etag, nil
}

// getRange reads bytes [from, to] of the object's version etag, retrying a failed request
// or a body cut short or stalled for data.s3.retry_for. Another version of the object is an
// error at once: its bytes cannot be joined to those of the parts before.
func (s *s3Store) getRange(ctx context.Context, key, etag string, from, to int64) (*[]byte, error) {
	var part *[]byte
	what := fmt.Sprintf("get %s bytes %d-%d", s.uri(key), from, to)
	err := s.retry(ctx, what, func() error {
		in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key, Range: aws.String(fmt.Sprintf("bytes=%d-%d", from, to))}
		if etag != "" {
			in.IfMatch = aws.String(etag)
		}
		out, err := s.client.GetObject(ctx, in)
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed" {
			return s.changed(key, "another", etag)
		}
		if err != nil {
			return s.wrap("get", key, err)
		}
		defer out.Body.Close()
		if e := aws.ToString(out.ETag); etag != "" && e != "" && e != etag {
			return s.changed(key, e, etag)
		}
		if !strings.HasPrefix(aws.ToString(out.ContentRange), fmt.Sprintf("bytes %d-", from)) {
			return &permanent{fmt.Errorf("loader: %s: the answer is %q", what, aws.ToString(out.ContentRange))}
		}
		b, err := readPart(newIdleReader(out.Body, s3Retry.IdleTimeout), to-from+1)
		if err != nil {
			return fmt.Errorf("loader: %s: %w", what, err)
		}
		part = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return part, nil
}

// readPart reads exactly n bytes of r into a pooled buffer.
func readPart(r io.Reader, n int64) (*[]byte, error) {
	b := partPool.Get().(*[]byte)
	if int64(cap(*b)) < n {
		*b = make([]byte, n)
	}
	*b = (*b)[:n]
	if _, err := io.ReadFull(r, *b); err != nil {
		putPart(b)
		return nil, err
	}
	return b, nil
}

func putPart(b *[]byte) {
	if b != nil && int64(cap(*b)) == s3PartSize {
		partPool.Put(b)
	}
}

type partResult struct {
	b   *[]byte
	err error
}

// partStream hands out the parts in order as they arrive.
type partStream struct {
	cur    *[]byte
	off    int
	queue  chan chan partResult
	cancel context.CancelFunc
	err    error
}

func (p *partStream) Read(buf []byte) (int, error) {
	for p.cur == nil || p.off == len(*p.cur) {
		if p.err != nil {
			return 0, p.err
		}
		putPart(p.cur)
		p.cur, p.off = nil, 0
		res, ok := <-p.queue
		if !ok {
			p.err = io.EOF
			continue
		}
		r := <-res
		if r.err != nil {
			p.err = r.err
			continue
		}
		p.cur = r.b
	}
	n := copy(buf, (*p.cur)[p.off:])
	p.off += n
	return n, nil
}

// Close stops the fetches and waits for them, so that no GET outlives the stream.
func (p *partStream) Close() error {
	p.cancel()
	for res := range p.queue {
		r := <-res
		putPart(r.b)
	}
	putPart(p.cur)
	p.cur = nil
	return nil
}
