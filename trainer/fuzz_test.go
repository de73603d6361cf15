package trainer

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// FuzzDecodeCheckpoint feeds damaged checkpoints to the decoder: it must refuse them with
// an error (never panic, never allocate past the input), and whatever it accepts must
// encode back to the same bytes.
func FuzzDecodeCheckpoint(f *testing.F) {
	cfg := tinyConfig()
	cfg.Train.Steps = 1
	cfg.Model.Width = 1
	dir := f.TempDir()
	res, err := Train(context.Background(), Options{Config: cfg, Source: &synthSource{batch: 8, size: 8, seed: 1, perEpoch: 64}, CheckpointDir: dir})
	if err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(res.Checkpoint)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(checkpointMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCheckpoint(data, "fuzz")
		if err != nil {
			return
		}
		again, err := encodeCheckpoint(c.Header, c.Tensors)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			// JSON may be re-encoded differently; the tensors and header must still agree.
			c2, err := decodeCheckpoint(again, "again")
			if err != nil || c2.Header.Step != c.Header.Step || len(c2.Tensors) != len(c.Tensors) {
				t.Fatalf("re-encoded checkpoint differs: %v", err)
			}
		}
	})
}
