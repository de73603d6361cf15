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
// come from the version of the object the first one came from (ETag). A server that ignores
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

// firstPart fetches the object's first part and learns its size and ETag.
func (s *s3Store) firstPart(ctx context.Context, key string) (part *[]byte, size int64, etag string, err error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key,
		Range: aws.String(fmt.Sprintf("bytes=0-%d", s3PartSize-1))})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "InvalidRange" {
		return nil, 0, "", errNoRanges // an empty object has no byte 0
	}
	if err != nil {
		return nil, 0, "", s.wrap("get", key, err)
	}
	cr := aws.ToString(out.ContentRange) // "bytes 0-N/SIZE"
	slash := strings.LastIndexByte(cr, '/')
	size, perr := strconv.ParseInt(cr[slash+1:], 10, 64)
	if slash < 0 || perr != nil {
		out.Body.Close()
		return nil, 0, "", errNoRanges
	}
	etag = aws.ToString(out.ETag)
	end := min(s3PartSize, size) - 1
	b, err := readPart(out.Body, end+1)
	out.Body.Close()
	if err != nil { // the body broke off: ask again, now knowing the version
		if b, err = s.getRange(ctx, key, etag, 0, end); err != nil {
			return nil, 0, "", err
		}
	}
	return b, size, etag, nil
}

// getRange reads bytes [from, to] of the object's version etag, retrying a body cut short.
func (s *s3Store) getRange(ctx context.Context, key, etag string, from, to int64) (*[]byte, error) {
	var last error
	for attempt := 0; attempt < s3Retry.Attempts; attempt++ {
		if attempt > 0 {
			if err := sleepBackoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key, Range: aws.String(fmt.Sprintf("bytes=%d-%d", from, to))}
		if etag != "" {
			in.IfMatch = aws.String(etag)
		}
		out, err := s.client.GetObject(ctx, in)
		if err != nil {
			return nil, s.wrap("get", key, err)
		}
		if e := aws.ToString(out.ETag); etag != "" && e != "" && e != etag {
			out.Body.Close()
			return nil, fmt.Errorf("loader: get %s: object changed while reading (etag %s, was %s)", s.uri(key), e, etag)
		}
		if !strings.HasPrefix(aws.ToString(out.ContentRange), fmt.Sprintf("bytes %d-", from)) {
			out.Body.Close()
			return nil, fmt.Errorf("loader: get %s bytes %d-%d: the answer is %q", s.uri(key), from, to, aws.ToString(out.ContentRange))
		}
		b, err := readPart(out.Body, to-from+1)
		out.Body.Close()
		if err == nil {
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		last = err
	}
	return nil, fmt.Errorf("loader: get %s bytes %d-%d: body failed %d times: %w", s.uri(key), from, to, s3Retry.Attempts, last)
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
