package loader

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/sagemaker/mototest"
)

// TestMotoRoundTrip writes images to moto_server with the SDK, reads them back with the
// aws CLI (a second, independent S3 client) and streams them through the loader, signed.
func TestMotoRoundTrip(t *testing.T) {
	url := mototest.Start(t)
	mototest.SetEnv(t)
	ctx := context.Background()
	cfg := configs.S3{Region: "us-east-1", Endpoint: url}
	store, _, err := newS3Store(ctx, "s3://moto-data/", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &store.bucket}); err != nil {
		t.Fatal(err)
	}
	files := fmnistFiles(t)[:24]
	for _, f := range files {
		key := "train/" + f.name
		if _, err := store.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &store.bucket, Key: &key, Body: bytes.NewReader(f.data)}); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	cli := exec.Command("aws", "--endpoint-url", url, "s3", "cp", "--recursive", "--only-show-errors", "s3://moto-data/train/", dir)
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("aws s3 cp: %v\n%s", err, out)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.name)))
		if err != nil || !bytes.Equal(got, f.data) {
			t.Errorf("aws s3 cp read %s back as %d bytes (%v), want the %d written", f.name, len(got), err, len(f.data))
		}
	}

	d := testData("s3://moto-data/train")
	d.S3 = cfg
	src, err := Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	l := newTestLoader(t, src, Options{Seed: 3, Epochs: 1})
	if got, want := sorted(flatten(run(t, l))), names(files); !slices.Equal(got, want) {
		t.Errorf("loader read %v from moto, want %v", got, want)
	}
}
