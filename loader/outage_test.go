package loader

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/faultproxy"
	"github.com/natssl/natssl/sagemaker/mototest"
)

// notices collects what the loader tells the user.
type notices struct {
	mu    sync.Mutex
	lines []string
}

func (n *notices) add(s string) { n.mu.Lock(); n.lines = append(n.lines, s); n.mu.Unlock() }

func (n *notices) text() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.lines, "\n")
}

// TestS3Faults reads from moto_server through a fault proxy on loopback: an outage shorter
// than data.s3.retry_for is waited out (logged, then its end logged) and loses nothing; a
// longer one stops the loader with ErrUnavailable naming the shard, never skipping it; a
// stalled connection is given up and retried; a tar shard streams through connections cut
// every few kilobytes and half of them reset.
func TestS3Faults(t *testing.T) {
	url := mototest.Start(t)
	mototest.SetEnv(t)
	old := s3Retry
	s3Retry.MaxBackoff, s3Retry.HeaderTimeout, s3Retry.IdleTimeout, s3Retry.LogEvery = 100*time.Millisecond, 400*time.Millisecond, 400*time.Millisecond, 200*time.Millisecond
	t.Cleanup(func() { s3Retry = old })
	ctx := context.Background()
	store, _, err := newS3Store(ctx, "s3://faults/", configs.S3{Region: "us-east-1", Endpoint: url})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &store.bucket}); err != nil {
		t.Fatal(err)
	}
	files := smokeFiles(t)[:24]
	put := func(key string, data []byte) {
		if _, err := store.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &store.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		put("images/"+f.name, f.data)
	}
	put("shards/train-000.tar", tarBytes(t, files, false))

	proxy, err := faultproxy.Start(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	// open reads source through the proxy; concurrency above 1 reads tar shards with that
	// many range GETs at once.
	open := func(t *testing.T, source string, retryFor time.Duration, concurrency ...int) (*Loader, *notices) {
		n := &notices{}
		d := testData(source)
		d.S3 = configs.S3{Region: "us-east-1", Endpoint: proxy.URL(), RetryFor: configs.Duration(retryFor)}
		if len(concurrency) > 0 {
			d.S3.Concurrency = concurrency[0]
		}
		nctx := WithNotify(ctx, n.add)
		src, err := Open(nctx, d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		l, err := New(nctx, src, Options{Seed: 1, Epochs: 1, ImageSize: 16, BatchSize: 4, Workers: 2, Augment: testAugment()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l, n
	}
	// readAll reads l to its end; during runs after the first batch.
	readAll := func(l *Loader, during func()) ([]string, error) {
		var keys []string
		for i := 0; ; i++ {
			b, err := l.Next(ctx)
			if errors.Is(err, io.EOF) {
				return keys, nil
			}
			if err != nil {
				return keys, err
			}
			keys = append(keys, b.Keys...)
			l.Release(b)
			if i == 0 && during != nil {
				during()
			}
		}
	}

	t.Run("outage shorter than retry_for", func(t *testing.T) {
		proxy.Set(faultproxy.Pass)
		l, n := open(t, "s3://faults/images", 30*time.Second)
		keys, err := readAll(l, func() {
			proxy.Set(faultproxy.Reset)
			time.AfterFunc(1500*time.Millisecond, func() { proxy.Set(faultproxy.Pass) })
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sorted(keys), names(files)) || l.Stats().SkippedTotal() != 0 {
			t.Errorf("read %d keys, skipped %v; want all %d, none skipped", len(keys), l.Stats().Skipped, len(files))
		}
		if txt := n.text(); !strings.Contains(txt, "retrying for up to 30s") || !strings.Contains(txt, "answers again") {
			t.Errorf("notices do not tell of the outage and its end:\n%s", txt)
		}
	})
	t.Run("outage longer than retry_for", func(t *testing.T) {
		proxy.Set(faultproxy.Pass)
		l, _ := open(t, "s3://faults/images", time.Second)
		start := time.Now()
		_, err := readAll(l, func() { proxy.Set(faultproxy.Reset) })
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "s3://faults/images/") {
			t.Fatalf("error %v, want ErrUnavailable naming the shard", err)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("gave up after %v", d)
		}
		if st := l.Stats(); st.SkippedTotal() != 0 {
			t.Errorf("skipped %v: an unreachable store must never be skipped", st.Skipped)
		}
	})
	t.Run("stalled connections", func(t *testing.T) {
		proxy.Set(faultproxy.Stall)
		time.AfterFunc(1500*time.Millisecond, func() { proxy.Set(faultproxy.Pass) })
		l, _ := open(t, "s3://faults/images", 30*time.Second)
		keys, err := readAll(l, nil)
		if err != nil || len(keys) != len(files) {
			t.Fatalf("read %d keys, %v; want %d", len(keys), err, len(files))
		}
	})
	t.Run("tar shard through cut and reset connections", func(t *testing.T) {
		proxy.Set(faultproxy.Cut)
		proxy.SetCutAfter(4 << 10)
		proxy.SetResetRate(0.5)
		defer proxy.SetResetRate(0)
		cuts := proxy.Cuts.Load()
		l, _ := open(t, "s3://faults/shards/train-000.tar", 30*time.Second)
		keys, err := readAll(l, nil)
		if err != nil || !slices.Equal(sorted(keys), names(files)) {
			t.Fatalf("read %d keys, %v; want all %d", len(keys), err, len(files))
		}
		if proxy.Cuts.Load()-cuts < 3 {
			t.Errorf("only %d connections cut", proxy.Cuts.Load()-cuts)
		}
	})
	t.Run("parallel range GETs through an outage shorter than retry_for", func(t *testing.T) {
		old := s3PartSize
		s3PartSize = 8 << 10 // a part per few images: the outage meets part requests
		t.Cleanup(func() { s3PartSize = old })
		proxy.Set(faultproxy.Pass)
		l, n := open(t, "s3://faults/shards/train-000.tar", 30*time.Second, 4)
		first := true
		keys, err := readAll(l, func() {
			if first {
				first = false
				proxy.Set(faultproxy.Reset)
				time.AfterFunc(1500*time.Millisecond, func() { proxy.Set(faultproxy.Pass) })
			}
		})
		if err != nil || !slices.Equal(sorted(keys), names(files)) || l.Stats().SkippedTotal() != 0 {
			t.Fatalf("read %d keys, %v, skipped %v; want all %d, none skipped", len(keys), err, l.Stats().Skipped, len(files))
		}
		if txt := n.text(); !strings.Contains(txt, "bytes") || !strings.Contains(txt, "answers again") {
			t.Errorf("notices do not tell of a part request failing and the store answering again:\n%s", txt)
		}
	})
	t.Run("parallel range GETs past retry_for", func(t *testing.T) {
		old := s3PartSize
		s3PartSize = 8 << 10
		t.Cleanup(func() { s3PartSize = old })
		proxy.Set(faultproxy.Pass)
		l, _ := open(t, "s3://faults/shards/train-000.tar", time.Second, 4)
		_, err := readAll(l, func() { proxy.Set(faultproxy.Reset) })
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "shard s3://faults/shards/train-000.tar") {
			t.Fatalf("error %v, want ErrUnavailable naming the shard", err)
		}
		if st := l.Stats(); st.SkippedTotal() != 0 {
			t.Errorf("skipped %v: an unreachable store must never be skipped", st.Skipped)
		}
	})
	t.Run("a shard replaced between two range GETs", func(t *testing.T) {
		old := s3PartSize
		s3PartSize = 8 << 10
		t.Cleanup(func() { s3PartSize = old })
		proxy.Set(faultproxy.Pass)
		put("shards/moving.tar", tarBytes(t, files, false))
		d := testData("s3://faults/shards/moving.tar")
		d.S3 = configs.S3{Region: "us-east-1", Endpoint: url, RetryFor: configs.Duration(30 * time.Second)}
		src, err := Open(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		s := src.(*S3Source)
		body, err := s.store.streamParallel(ctx, "shards/moving.tar", 1) // one part in flight: the next is asked for after the first is read
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		buf := make([]byte, s3PartSize)
		if _, err := io.ReadFull(body, buf); err != nil {
			t.Fatal(err)
		}
		put("shards/moving.tar", tarBytes(t, files[:12], false))
		_, err = io.Copy(io.Discard, body)
		if err == nil || !strings.Contains(err.Error(), "object changed while reading") || errors.Is(err, ErrUnavailable) {
			t.Errorf("reading on after the object changed: %v; want an error saying it changed, not retried", err)
		}
	})
}
