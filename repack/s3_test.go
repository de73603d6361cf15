package repack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/natssl/natssl/sagemaker/mototest"
)

// wallpapers are Debian's mate-backgrounds photographs (scripts/deps.sh installs them): 34 MB
// in 18 JPEGs, enough for shards that go up in several parts.
const wallpapers = "/usr/share/backgrounds/mate"

// awsCLI runs the aws command line against endpoint and returns its output.
func awsCLI(t *testing.T, endpoint string, args ...string) string {
	t.Helper()
	out, err := exec.Command("aws", append(args, "--endpoint-url", endpoint)...).CombinedOutput()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestShardsToS3: a folder of photographs goes up to moto_server as multipart uploads; the
// aws CLI lists the shards and the manifest, and data.source reads the set back from S3. A
// run stopped midway leaves no open upload behind once resumed.
func TestShardsToS3(t *testing.T) {
	if _, err := os.Stat(wallpapers); err != nil {
		t.Fatalf("the photographs of Debian's mate-backgrounds are missing (apt-get install mate-backgrounds): %v", err)
	}
	mototest.SetEnv(t)
	endpoint := mototest.Start(t)
	awsCLI(t, endpoint, "s3", "mb", "s3://sets")
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
	awsCLI(t, endpoint, "s3api", "create-multipart-upload", "--bucket", "sets", "--key", "mate/train-000002.tar")
	sum, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Shards != 3 || sum.Resumed < 1 || sum.Images != int64(len(want)) || sum.Manifest != "s3://sets/mate/train.json" {
		t.Errorf("summary %+v", sum)
	}

	ls := awsCLI(t, endpoint, "s3", "ls", "--recursive", "s3://sets/mate/")
	for _, name := range []string{"mate/train-000000.tar", "mate/train-000001.tar", "mate/train-000002.tar", "mate/train.json"} {
		if !strings.Contains(ls, name) {
			t.Errorf("aws s3 ls does not show %s:\n%s", name, ls)
		}
	}
	if strings.Contains(ls, journalDir) || strings.Contains(ls, "train-000003") {
		t.Errorf("aws s3 ls shows more than the set:\n%s", ls)
	}
	head := awsCLI(t, endpoint, "s3api", "head-object", "--bucket", "sets", "--key", "mate/train-000000.tar")
	if !strings.Contains(head, `-2\""`) && !strings.Contains(head, `-3\""`) {
		t.Errorf("train-000000.tar went up in one part, want a multipart upload (ETag ...-N):\n%s", head)
	}
	if up := awsCLI(t, endpoint, "s3api", "list-multipart-uploads", "--bucket", "sets"); strings.Contains(up, "UploadId") {
		t.Errorf("open uploads left behind:\n%s", up)
	}

	back := data("s3://sets/mate/train.json", "")
	back.S3.Endpoint = endpoint
	if got := readSet(t, back); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the set read back from S3 holds %d samples unlike the folder's %d", len(got), len(want))
	}
}
