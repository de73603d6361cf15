package loader

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/natssl/natssl/configs"
)

// startMoto runs moto_server (the machine's Python tools) on a free loopback port and returns
// its URL; the server is stopped when the test ends.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Fatalf("moto_server is not on PATH (it comes with the machine's Python tools; .ci/run puts the pyenv shims on PATH): the cross-check needs a real S3 endpoint: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its own process group: the shim and python
		cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s: %v\n%s", url, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMotoRoundTrip writes images to moto_server with the SDK, reads them back with the
// aws CLI (a second, independent S3 client) and streams them through the loader, signed.
func TestMotoRoundTrip(t *testing.T) {
	url := startMoto(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_DEFAULT_REGION", "us-east-1")
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
	got := sorted(flatten(run(t, l)))
	var want []string
	for _, f := range files {
		want = append(want, f.name)
	}
	if !slices.Equal(got, sorted(want)) {
		t.Errorf("loader read %v from moto, want %v", got, sorted(want))
	}
}
