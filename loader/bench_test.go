package loader

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchPhotos are 500-px photographs (iNat 2021's size), repeated into n files.
func benchPhotos(b *testing.B, n int) []file {
	var photos [][]byte
	for _, name := range []string{"photo500.jpg", "photo500b.jpg", "photo500c.jpg"} {
		photos = append(photos, mustRead(b, filepath.Join("..", "augment", "testdata", name)))
	}
	out := make([]file, n)
	for i := range out {
		out[i] = file{fmt.Sprintf("c%d/%05d.jpg", i%7, i), photos[i%len(photos)]}
	}
	return out
}

// BenchmarkLoader measures the whole pipeline (read a tar, decode, two views, batches) on
// all cores; one op is one image. With 2 replicas (224x2) each replica's part is copied into
// the batch.
func BenchmarkLoader(b *testing.B) {
	for _, c := range []struct{ size, replicas int }{{96, 1}, {224, 1}, {224, 2}} {
		name := fmt.Sprint(c.size)
		if c.replicas > 1 {
			name += fmt.Sprintf("x%d", c.replicas)
		}
		size := c.size
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			p := filepath.Join(dir, "photos.tar")
			os.WriteFile(p, tarBytes(b, benchPhotos(b, 96), false), 0o644)
			src, err := OpenTar(p)
			if err != nil {
				b.Fatal(err)
			}
			l, err := New(context.Background(), src, Options{Seed: 1, ImageSize: size, BatchSize: 32, ShuffleBuffer: 64, Replicas: c.replicas, Augment: testAugment()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.ResetTimer()
			for n := 0; n < b.N; {
				batch, err := l.Next(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				n += batch.N
				l.Release(batch)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkTarRead measures reading archive members into memory, plain and gzip; one op is
// one member.
func BenchmarkTarRead(b *testing.B) {
	files := benchPhotos(b, 256)
	for _, gz := range []bool{false, true} {
		name := map[bool]string{false: "tar", true: "tar.gz"}[gz]
		b.Run(name, func(b *testing.B) {
			p := filepath.Join(b.TempDir(), "photos."+name)
			os.WriteFile(p, tarBytes(b, files, gz), 0o644)
			sh := &tarShard{name: p, open: openLocal(p)}
			ctx := context.Background()
			b.ResetTimer()
			for n := 0; n < b.N; {
				r, err := sh.Open(ctx)
				if err != nil {
					b.Fatal(err)
				}
				for ; n < b.N; n++ {
					if _, err := r.Next(ctx); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
				r.Close()
			}
		})
	}
}
