package repack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/regfile"
	"github.com/natssl/natssl/loader"
)

// uploadPartSize is the part of a multipart upload; each upload holds up to
// uploadConcurrency of them in memory.
const (
	uploadPartSize    = manager.MinUploadPartSize * 2
	uploadConcurrency = 4
)

// bucket is an output prefix on S3. Shards go up as multipart uploads streamed from the
// writer (the SDK's upload manager), so a shard is never held whole; an upload that fails is
// aborted, and what a killed process left is aborted by clean.
type bucket struct {
	client *s3.Client
	up     *manager.Uploader
	bucket string
	prefix string // ends in "/" or is empty
}

var _ store = (*bucket)(nil)

func newBucket(ctx context.Context, uri string, c configs.S3) (*bucket, error) {
	name, prefix, err := loader.ParseS3URI(uri)
	if err != nil {
		return nil, fmt.Errorf("repack: --out %w", err)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	client, err := loader.NewS3Client(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("repack: s3 config for %s: %w", uri, err)
	}
	up := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize, u.Concurrency = uploadPartSize, uploadConcurrency
	})
	return &bucket{client: client, up: up, bucket: name, prefix: prefix}, nil
}

func (b *bucket) key(name string) string { return b.prefix + name }

func (b *bucket) uri(name string) string { return "s3://" + b.bucket + "/" + b.key(name) }

// upload is one object going up from a pipe.
type upload struct {
	pw   *io.PipeWriter
	done chan error
}

var errAborted = errors.New("repack: upload aborted")

func (b *bucket) create(ctx context.Context, name string) (sink, error) {
	pr, pw := io.Pipe()
	u := &upload{pw: pw, done: make(chan error, 1)}
	key := b.key(name)
	go func() {
		_, err := b.up.Upload(ctx, &s3.PutObjectInput{Bucket: &b.bucket, Key: &key, Body: pr})
		pr.CloseWithError(err) // a writer still writing learns that the upload failed
		if err != nil {
			err = fmt.Errorf("repack: upload %s: %w", b.uri(name), err)
		}
		u.done <- err
	}()
	return u, nil
}

func (u *upload) Write(p []byte) (int, error) { return u.pw.Write(p) }

func (u *upload) commit() error {
	u.pw.Close()
	return <-u.done
}

func (u *upload) abort() {
	u.pw.CloseWithError(errAborted)
	<-u.done
}

func (b *bucket) get(ctx context.Context, name string) ([]byte, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: aws.String(b.key(name))})
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("repack: read %s: %w", b.uri(name), fs.ErrNotExist)
		}
		return nil, fmt.Errorf("repack: read %s: %w", b.uri(name), err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(regfile.LimitReader(out.Body, b.uri(name), maxFileBytes))
	if err != nil {
		return nil, fmt.Errorf("repack: read %s: %w", b.uri(name), err)
	}
	return data, nil
}

func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var re *smithyhttp.ResponseError
	var ae smithy.APIError
	return errors.As(err, &nsk) || errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound ||
		errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey"
}

func (b *bucket) put(ctx context.Context, name string, data []byte) error {
	_, err := b.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &b.bucket, Key: aws.String(b.key(name)), Body: bytes.NewReader(data)})
	if err != nil {
		return fmt.Errorf("repack: write %s: %w", b.uri(name), err)
	}
	return nil
}

func (b *bucket) list(ctx context.Context, dir string) ([]string, error) {
	prefix := b.key(join(dir, ""))
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &prefix, Delimiter: aws.String("/")})
	var out []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("repack: list %s: %w", b.uri(join(dir, "")), err)
		}
		for _, o := range page.Contents {
			out = append(out, strings.TrimPrefix(aws.ToString(o.Key), b.prefix))
		}
	}
	return out, nil // ListObjectsV2 returns keys in order
}

func (b *bucket) remove(ctx context.Context, names ...string) error {
	names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == journalDir }) // no folders on S3
	for len(names) > 0 {
		n := min(len(names), 1000)
		var ids []types.ObjectIdentifier
		for _, name := range names[:n] {
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(b.key(name))})
		}
		out, err := b.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &b.bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err == nil && len(out.Errors) > 0 {
			err = fmt.Errorf("%s: %s", aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
		if err != nil {
			return fmt.Errorf("repack: delete under %s: %w", b.uri(""), err)
		}
		names = names[n:]
	}
	return nil
}

// clean aborts the multipart uploads of shards that a killed process left open.
func (b *bucket) clean(ctx context.Context) error {
	in := &s3.ListMultipartUploadsInput{Bucket: &b.bucket, Prefix: aws.String(b.prefix)}
	for {
		out, err := b.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return fmt.Errorf("repack: list open uploads under %s: %w", b.uri(""), err)
		}
		for _, u := range out.Uploads {
			if !isShardName(aws.ToString(u.Key)) && !strings.HasSuffix(aws.ToString(u.Key), "/"+manifestName) {
				continue
			}
			_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: u.Key, UploadId: u.UploadId})
			if err != nil && !notFound(err) {
				return fmt.Errorf("repack: abort the open upload of s3://%s/%s: %w", b.bucket, aws.ToString(u.Key), err)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
