package loader

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/natssl/natssl/configs"
)

// faults makes a real S3 endpoint misbehave on a fixed schedule: every throttleEvery-th
// request gets 503 SlowDown, every cutEvery-th object GET sends half its body and drops the
// connection, every resetEvery-th request has its connection closed before any answer.
type faults struct {
	throttleEvery, cutEvery, resetEvery int64

	requests, gets         atomic.Int64
	throttled, cut, resets atomic.Int64
	signed                 atomic.Int64 // requests carrying an Authorization header

	delay              time.Duration // added to every request, so that parallel ones overlap
	inflight, peak     atomic.Int64  // requests being answered, and the most at once
	ranges, rangeBytes atomic.Int64  // range GETs, and the bytes they asked for
}

func (f *faults) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			f.signed.Add(1)
		}
		in := f.inflight.Add(1)
		defer f.inflight.Add(-1)
		for p := f.peak.Load(); in > p && !f.peak.CompareAndSwap(p, in); p = f.peak.Load() {
		}
		if rg := r.Header.Get("Range"); rg != "" {
			f.ranges.Add(1)
			var a, b int64
			if _, err := fmt.Sscanf(rg, "bytes=%d-%d", &a, &b); err == nil {
				f.rangeBytes.Add(b - a + 1)
			}
		}
		time.Sleep(f.delay)
		n := f.requests.Add(1)
		if f.resetEvery > 0 && n%f.resetEvery == 0 {
			f.resets.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0) // RST, not FIN
				}
				conn.Close()
			}
			return
		}
		if f.throttleEvery > 0 && n%f.throttleEvery == 0 {
			f.throttled.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		isGet := r.Method == http.MethodGet // object GETs and listings alike
		if isGet && f.cutEvery > 0 && f.gets.Add(1)%f.cutEvery == 0 {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if rec.Code/100 == 2 && len(body) > 1 {
				f.cut.Add(1)
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				w.WriteHeader(rec.Code)
				w.Write(body[:len(body)/2])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler) // the server drops the connection mid-body
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fakeS3 is an in-process S3 server on 127.0.0.1 holding bucket "data".
type fakeS3 struct {
	backend *s3mem.Backend
	url     string
	faults  *faults
}

func newFakeS3(t *testing.T, f *faults) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("data"); err != nil {
		t.Fatal(err)
	}
	if f == nil {
		f = &faults{}
	}
	srv := httptest.NewServer(f.wrap(gofakes3.New(backend).Server()))
	srv.Config.ErrorLog = nil
	t.Cleanup(srv.Close)
	old := s3Retry
	s3Retry.MaxBackoff = 20 * time.Millisecond
	t.Cleanup(func() { s3Retry = old })
	return &fakeS3{backend: backend, url: srv.URL, faults: f}
}

func (s *fakeS3) put(t *testing.T, key string, data []byte) {
	t.Helper()
	if _, err := s.backend.PutObject("data", key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
}

func (s *fakeS3) data(source string) configs.Data {
	d := testData(source)
	d.S3 = configs.S3{Region: "us-east-1", Endpoint: s.url, Anonymous: true}
	return d
}

// fmnistFiles are the small Fashion-MNIST images of the smoke set (not the nature photos).
func fmnistFiles(t testing.TB) []file {
	var out []file
	for _, f := range smokeFiles(t) {
		if !strings.HasPrefix(f.name, "nature/") {
			out = append(out, f)
		}
	}
	return out
}

func TestS3PrefixOverManyPagesWithFaults(t *testing.T) {
	f := &faults{throttleEvery: 7, cutEvery: 5, resetEvery: 11}
	s := newFakeS3(t, f)
	imgs := fmnistFiles(t)
	const n = 1100 // more than one listing page of 1,000 keys
	var want []string
	for i := range n {
		im := imgs[i%len(imgs)]
		key := fmt.Sprintf("%05d_%s", i%3, strings.ReplaceAll(im.name, "/", fmt.Sprintf("/%04d-", i)))
		s.put(t, "train/"+key, im.data)
		want = append(want, key)
	}
	s.put(t, "train/labels.csv", []byte("not,a,sample\n"))
	s.put(t, "other/x.jpg", imgs[0].data)

	src, err := Open(context.Background(), s.data("s3://data/train/"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got := len(src.Shards()); got != 2 {
		t.Errorf("%d shards, want 2 (1,000 + 100 keys)", got)
	}
	if got, err := src.Len(context.Background()); err != nil || got != n {
		t.Errorf("Len = %d, %v; want %d", got, err, n)
	}
	l := newTestLoader(t, src, Options{Seed: 9, Epochs: 1, BatchSize: 64, ImageSize: 8, ShuffleBuffer: 256})
	got := flatten(run(t, l))
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("delivered %d keys (%d distinct), want each of the %d once", len(got), len(slices.Compact(sorted(got))), n)
	}
	if st := l.Stats(); st.SkippedTotal() != 0 {
		t.Errorf("skipped %v %q", st.Skipped, st.SkippedExamples)
	}
	if f.throttled.Load() == 0 || f.cut.Load() == 0 || f.resets.Load() == 0 {
		t.Errorf("faults injected: %d throttled, %d cut, %d reset; want some of each", f.throttled.Load(), f.cut.Load(), f.resets.Load())
	}
	if f.signed.Load() != 0 {
		t.Errorf("%d requests were signed; anonymous access must send none", f.signed.Load())
	}
	t.Logf("%d requests: %d throttled, %d bodies cut, %d connections reset", f.requests.Load(), f.throttled.Load(), f.cut.Load(), f.resets.Load())
}

func TestS3TarShardsSurviveCutConnections(t *testing.T) {
	f := &faults{cutEvery: 2, throttleEvery: 5}
	s := newFakeS3(t, f)
	files := smokeFiles(t)
	for i := range 3 {
		var part []file
		for j := i; j < len(files); j += 3 {
			part = append(part, files[j])
		}
		s.put(t, fmt.Sprintf("shards/shard-%03d.tar.gz", i), tarBytes(t, part, true))
	}
	src, err := Open(context.Background(), s.data("s3://data/shards/shard-"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got, err := src.Len(context.Background()); err != nil || got != smokeImages {
		t.Errorf("Len = %d, %v; want %d", got, err, smokeImages)
	}
	l := newTestLoader(t, src, Options{Seed: 9, Epochs: 1})
	if got, want := sorted(flatten(run(t, l))), names(files); !slices.Equal(got, want) {
		t.Errorf("delivered %d members, want each of %d once", len(got), len(want))
	}
	if f.cut.Load() == 0 {
		t.Errorf("no body was cut; the test proves nothing")
	}
}

func TestS3StreamResumesWhereTheConnectionBroke(t *testing.T) {
	s := newFakeS3(t, &faults{cutEvery: 1}) // every GET is cut in half
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	s.put(t, "blob.bin", data)
	store, _, err := newS3Store(context.Background(), "s3://data/", configs.S3{Endpoint: s.url, Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r, err := store.stream(context.Background(), "blob.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Errorf("read %d bytes, not the %d written", got.Len(), len(data))
	}
}

func TestS3ManifestWithMissingObject(t *testing.T) {
	s := newFakeS3(t, nil)
	files := fmnistFiles(t)[:20]
	for _, f := range files {
		s.put(t, "inat/"+f.name, f.data)
	}
	var buf bytes.Buffer
	path := t.TempDir() + "/train.json"
	labels := writeManifest(t, path, files, "Shirt/gone.jpg")
	buf.Write(mustRead(t, path))
	s.put(t, "inat/train.json", buf.Bytes())
	src, err := Open(context.Background(), s.data("s3://data/inat/train.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	expectOneMissing(t, newTestLoader(t, src, Options{Seed: 1, Epochs: 1}), labels)
}

// expectOneMissing reads l to the end and checks that every sample comes with its manifest
// label and that, of labels, only the one entry without an image was left out, counted as
// missing.
func expectOneMissing(t *testing.T, l *Loader, labels map[string]int) {
	t.Helper()
	for {
		b, err := l.Next(context.Background())
		if err != nil {
			break
		}
		for i, k := range b.Keys {
			if labels[k] != b.Labels[i] {
				t.Errorf("%s: label %d, want %d", k, b.Labels[i], labels[k])
			}
			delete(labels, k)
		}
		l.Release(b)
	}
	if len(labels) != 1 {
		t.Errorf("not delivered: %v; want only the missing one", labels)
	}
	if st := l.Stats(); st.Skipped[SkipMissing] != 1 {
		t.Errorf("skipped %v, want one missing", st.Skipped)
	}
}

func TestS3OpenErrors(t *testing.T) {
	s := newFakeS3(t, nil)
	cases := []struct{ source, want string }{
		{"s3://data/empty/", "holds no images"},
		{"s3://nobucket/x/", "NoSuchBucket"},
		{"s3:///x", "names no bucket"},
		{"s3://data/none.json", "does not exist"},
	}
	for _, c := range cases {
		t.Run(c.source, func(t *testing.T) {
			src, err := Open(context.Background(), s.data(c.source))
			if err == nil {
				src.Close()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open(%s) = %v, want an error saying %q", c.source, err, c.want)
			}
		})
	}
}

func TestS3ManifestWithTarRoot(t *testing.T) {
	s := newFakeS3(t, &faults{cutEvery: 3})
	files := smokeFiles(t)
	s.put(t, "inat/train-0.tar.gz", tarBytes(t, files[:30], true))
	s.put(t, "inat/train-1.tar.gz", tarBytes(t, files[30:], true))
	path := t.TempDir() + "/train.json"
	labels := writeManifest(t, path, files[2:], "Shirt/gone.jpg")
	d := s.data(path)
	d.Root = "s3://data/inat/train-{0..1}.tar.gz"
	src, err := Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if n, err := src.Len(context.Background()); err != nil || n != int64(len(files)-1) {
		t.Errorf("Len = %d, %v; want %d (the manifest's entries)", n, err, len(files)-1)
	}
	expectOneMissing(t, newTestLoader(t, src, Options{Seed: 1, Epochs: 1}), labels)
}

// A manifest on S3 with data.root unset reads the shards named after it beside it, and not
// the objects of other names there.
func TestS3ManifestShardsBeside(t *testing.T) {
	s := newFakeS3(t, nil)
	files := smokeFiles(t)
	s.put(t, "inat/train-0.tar.gz", tarBytes(t, files[:30], true))
	s.put(t, "inat/train-1.tar.gz", tarBytes(t, files[30:], true))
	s.put(t, "inat/other-0.tar", tarBytes(t, files[:5], false))
	s.put(t, "inat/train-x/inner.tar", tarBytes(t, files[:5], false))
	path := t.TempDir() + "/train.json"
	labels := writeManifest(t, path, files)
	s.put(t, "inat/train.json", mustRead(t, path))
	src, err := Open(context.Background(), s.data("s3://data/inat/train.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ms, ok := src.(*ManifestSource)
	if !ok || len(ms.shards) != 2 {
		t.Fatalf("source %T with %d shards, want the manifest's 2 shards", src, len(ms.shards))
	}
	l := newTestLoader(t, src, Options{Seed: 1, Epochs: 1})
	for {
		b, err := l.Next(context.Background())
		if err != nil {
			break
		}
		for _, k := range b.Keys {
			delete(labels, k)
		}
		l.Release(b)
	}
	if len(labels) != 0 {
		t.Errorf("not delivered: %v", labels)
	}
}

func TestS3ListingSurvivesCutPages(t *testing.T) {
	f := &faults{}
	s := newFakeS3(t, f)
	img := fmnistFiles(t)[0].data
	for i := range 2500 {
		s.put(t, fmt.Sprintf("many/%05d.jpg", i), img)
	}
	f.cutEvery = 2 // from now on every other GET, listings included, breaks off mid-body
	src, err := OpenS3(context.Background(), "s3://data/many/", configs.S3{Endpoint: s.url, Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if n, _ := src.Len(context.Background()); n != 2500 || len(src.Shards()) != 3 {
		t.Errorf("listed %d keys in %d shards, want 2500 in 3", n, len(src.Shards()))
	}
	keys := 0 // each shard lists its keys again when opened
	for _, sh := range src.Shards() {
		r, err := sh.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, err := r.Next(context.Background()); err == nil; _, err = r.Next(context.Background()) {
			keys++
		}
	}
	if keys != 2500 {
		t.Errorf("shards listed %d keys, want 2500", keys)
	}
	if f.cut.Load() == 0 {
		t.Errorf("no response was cut")
	}
}

// TestS3ParallelStreams: with data.s3.concurrency, a tar object arrives from several range
// GETs at once, through cut connections and throttling, as the same bytes in the same order:
// the batches are those of one GET per shard.
func TestS3ParallelStreams(t *testing.T) {
	old := s3PartSize
	s3PartSize = 4 << 10
	t.Cleanup(func() { s3PartSize = old })
	files := smokeFiles(t)
	f := &faults{cutEvery: 4, throttleEvery: 9, delay: 2 * time.Millisecond}
	s := newFakeS3(t, f)
	for i := range 2 {
		var part []file
		for j := i; j < len(files); j += 2 {
			part = append(part, files[j])
		}
		s.put(t, fmt.Sprintf("par/shard-%d.tar", i), tarBytes(t, part, false))
	}
	s.put(t, "par/empty.tar.gz", nil) // no byte to range over: read with one GET
	var batches [2][]batchDigest
	for i, n := range []int{1, 4} {
		d := s.data("s3://data/par/")
		d.S3.Concurrency = n
		src, err := Open(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		f.peak.Store(0)
		f.ranges.Store(0)
		batches[i] = digests(t, newTestLoader(t, src, Options{Seed: 2, Epochs: 1, ShuffleBuffer: 8}), -1)
		if n > 1 && (f.peak.Load() < 3 || f.ranges.Load() < 10) {
			t.Errorf("concurrency %d: %d range GETs, at most %d requests at once; want parts in parallel", n, f.ranges.Load(), f.peak.Load())
		}
	}
	if len(batches[0]) == 0 || !slices.Equal(batches[0], batches[1]) {
		t.Errorf("batches with 4 GETs in flight differ from those with one (%d and %d batches)", len(batches[1]), len(batches[0]))
	}
	if f.cut.Load() == 0 || f.throttled.Load() == 0 {
		t.Errorf("no fault was injected: %d cut, %d throttled", f.cut.Load(), f.throttled.Load())
	}
}
