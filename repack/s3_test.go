package repack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/faultproxy"
	"github.com/natssl/natssl/loader"
	"github.com/natssl/natssl/sagemaker/mototest"
)

// wallpapers are Debian's mate-backgrounds photographs (scripts/deps.sh installs them): 34 MB
// in 18 JPEGs, enough for shards that go up in several parts.
const wallpapers = "/usr/share/backgrounds/mate"

// TestShardsToS3: a folder of photographs goes up to moto_server as multipart uploads; the
// aws CLI lists the shards and the manifest, and data.source reads the set back from S3. A
// run stopped midway leaves no open upload behind once resumed.
func TestShardsToS3(t *testing.T) {
	if _, err := os.Stat(wallpapers); err != nil {
		t.Fatalf("the photographs of Debian's mate-backgrounds are missing (apt-get install mate-backgrounds): %v", err)
	}
	mototest.SetEnv(t)
	endpoint := mototest.Start(t)
	mototest.AWS(t, endpoint, "s3", "mb", "s3://sets")
	d := data(wallpapers, "")
	d.S3.Endpoint = endpoint
	want := readSet(t, d)

	ctx, cancel := context.WithCancel(context.Background())
	orig := progressEvery
	progressEvery = 0
	defer func() { progressEvery = orig }()
	o := Options{Data: d, Out: "s3://sets/mate/", Shards: 3, Jobs: 2}
	b, err := newBucket(ctx, o.Out, d.S3)
	if err != nil {
		t.Fatal(err)
	}
	o.Progress = func(p Progress) { // stop once the first shard is in the journal
		if _, err := b.get(ctx, entryName(0)); err == nil {
			cancel()
		}
	}
	if _, err := Run(ctx, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v, want context.Canceled", err)
	}
	o.Progress = nil
	// What a killed process leaves: an upload begun and never completed.
	mototest.AWS(t, endpoint, "s3api", "create-multipart-upload", "--bucket", "sets", "--key", "mate/train-000002.tar")
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Shards != 3 || sum.Resumed < 1 || sum.Images != int64(len(want)) || sum.Manifest != "s3://sets/mate/train.json" {
		t.Errorf("summary %+v", sum)
	}

	ls := mototest.AWS(t, endpoint, "s3", "ls", "--recursive", "s3://sets/mate/")
	for _, name := range []string{"mate/train-000000.tar", "mate/train-000001.tar", "mate/train-000002.tar", "mate/train.json"} {
		if !strings.Contains(ls, name) {
			t.Errorf("aws s3 ls does not show %s:\n%s", name, ls)
		}
	}
	if strings.Contains(ls, journalDir) || strings.Contains(ls, "train-000003") {
		t.Errorf("aws s3 ls shows more than the set:\n%s", ls)
	}
	head := mototest.AWS(t, endpoint, "s3api", "head-object", "--bucket", "sets", "--key", "mate/train-000000.tar")
	if !strings.Contains(head, `-2\""`) && !strings.Contains(head, `-3\""`) {
		t.Errorf("train-000000.tar went up in one part, want a multipart upload (ETag ...-N):\n%s", head)
	}
	if up := mototest.AWS(t, endpoint, "s3api", "list-multipart-uploads", "--bucket", "sets"); strings.Contains(up, "UploadId") {
		t.Errorf("open uploads left behind:\n%s", up)
	}

	back := data("s3://sets/mate/train.json", "")
	back.S3.Endpoint = endpoint
	if got := readSet(t, back); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the set read back from S3 holds %d samples unlike the folder's %d", len(got), len(want))
	}
}

// TestUnreachableSourceStops: a source on S3 that stops answering (moto_server behind a fault
// proxy that resets every connection) for longer than data.s3.retry_for stops the run with
// loader.ErrUnavailable, none of its images skipped; the same run again, the store back,
// makes the whole set.
func TestUnreachableSourceStops(t *testing.T) {
	mototest.SetEnv(t)
	endpoint := mototest.Start(t)
	mototest.AWS(t, endpoint, "s3", "mb", "s3://src")
	mototest.AWS(t, endpoint, "s3", "cp", "--recursive", "--only-show-errors", smokeDir, "s3://src/train/")
	proxy, err := faultproxy.Start(strings.TrimPrefix(endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	d := data("s3://src/train/", "")
	d.S3.Endpoint, d.S3.RetryFor = proxy.URL(), configs.Duration(time.Second)
	orig := progressEvery
	progressEvery = 0
	defer func() { progressEvery = orig }()
	out := t.TempDir()
	o := Options{Data: d, Out: out, Shards: 2, Jobs: 2}
	o.Progress = func(Progress) { proxy.Set(faultproxy.Reset) } // after the first image
	sum, err := Run(context.Background(), o)
	if !errors.Is(err, loader.ErrUnavailable) || !strings.Contains(err.Error(), "s3://src/train/") {
		t.Fatalf("run against a store that went away: %+v, %v; want ErrUnavailable naming the object", sum, err)
	}
	proxy.Set(faultproxy.Pass)
	o.Progress = nil
	if sum, err = Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if sum.Images != smokeImages || len(sum.Skipped) != 0 {
		t.Errorf("%d images, skipped %v; want all %d, none skipped", sum.Images, sum.Skipped, smokeImages)
	}
}

// TestStoppedAfterTheLastShard: a run stopped after writing every shard, before it could record
// the end, is finished by the next run without an empty shard after the others.
func TestStoppedAfterTheLastShard(t *testing.T) {
	mototest.SetEnv(t)
	endpoint := mototest.Start(t)
	mototest.AWS(t, endpoint, "s3", "mb", "s3://sets")
	d := data(smokeDir, "")
	d.S3.Endpoint = endpoint
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := Options{Data: d, Out: "s3://sets/smoke/", Shards: 3, Jobs: 2}
	o.Progress = func(p Progress) {
		if p.Shards == 3 && p.Images == p.Total { // the last call: every shard is written
			cancel()
		}
	}
	if _, err := Run(ctx, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v, want context.Canceled", err)
	}
	o.Progress = nil
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ls := mototest.AWS(t, endpoint, "s3", "ls", "--recursive", "s3://sets/smoke/")
	if sum.Shards != 3 || sum.Images != smokeImages || strings.Contains(ls, "train-000003") {
		t.Errorf("summary %+v; the set:\n%s\nwant 3 shards of %d images, and no fourth", sum, ls, smokeImages)
	}
}
