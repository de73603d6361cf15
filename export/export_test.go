package export

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx"
	"github.com/nlpodyssey/safetensors"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/trainer"
)

// TestFixturesTrained guards the other tests' premise: the checkpoints hold batch-norm
// statistics far from their initial 0 and 1, so a graph that mishandled them would show.
func TestFixturesTrained(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			c := f.read(t)
			var mean, dev float64
			n := 0
			for name, v := range c.Tensors {
				if strings.HasPrefix(name, "bn/enc.") {
					for _, x := range v {
						if strings.HasSuffix(name, "/mean") {
							mean = math.Max(mean, math.Abs(float64(x)))
						} else {
							dev = math.Max(dev, math.Abs(float64(x)-1))
						}
					}
					n++
				}
			}
			if n == 0 || mean < 0.05 || dev < 0.05 {
				t.Fatalf("%d statistics, largest |mean| %v, largest |var-1| %v", n, mean, dev)
			}
		})
	}
}

// TestCostTorchvision holds the cost figures to torchvision's published ones for its
// resnet18 and resnet50 at 224 pixels (11,689,512 and 25,557,032 parameters; 1.814 and 4.089
// GMACs, which its table calls GFLOPS), less the fc layer the encoder does not have.
func TestCostTorchvision(t *testing.T) {
	for _, tc := range []struct {
		backbone string
		params   int64
		gmacs    float64
		fcIn     int64
	}{
		{"resnet18", 11689512, 1.814, 512},
		{"resnet50", 25557032, 4.089, 2048},
	} {
		t.Run(tc.backbone, func(t *testing.T) {
			c, err := EncoderCost(configs.Model{Backbone: tc.backbone, Width: 64}, 224)
			if err != nil {
				t.Fatal(err)
			}
			fc := tc.fcIn*1000 + 1000
			if c.Params != tc.params-fc {
				t.Errorf("params %d, want %d", c.Params, tc.params-fc)
			}
			gmacs := float64(c.MACs+tc.fcIn*1000) / 1e9
			if math.Abs(gmacs-tc.gmacs) > 0.0005 {
				t.Errorf("GMACs with fc %.4f, want %.3f", gmacs, tc.gmacs)
			}
			if c.MFLOPs != 2*float64(c.MACs)/1e6 {
				t.Errorf("MFLOPs %v for %d MACs", c.MFLOPs, c.MACs)
			}
		})
	}
	if _, err := EncoderCost(configs.Model{Backbone: "vgg", Width: 64}, 224); err == nil {
		t.Error("unknown backbone: no error")
	}
}

// TestCostParamsMatchCheckpoint counts the parameters a checkpoint holds (the encoder's,
// and the head's with the head) and wants the exports' Cost to say the same.
func TestCostParamsMatchCheckpoint(t *testing.T) {
	for _, f := range fixtures[:4] {
		t.Run(f.name, func(t *testing.T) {
			ckpt, c := f.checkpoint(t), f.read(t)
			var enc, all int64
			for name, v := range c.Tensors {
				if strings.HasPrefix(name, "param/") {
					all += int64(len(v))
					if strings.HasPrefix(name, "param/enc.") {
						enc += int64(len(v))
					}
				}
			}
			dir := t.TempDir()
			for _, head := range []bool{false, true} {
				res, err := Export(context.Background(), ckpt, Options{Format: SafeTensors, WithHead: head}, filepath.Join(dir, "x.safetensors"))
				if err != nil {
					t.Fatal(err)
				}
				want := enc
				if head {
					want = all
				}
				if res.Cost.Params != want {
					t.Errorf("head %v: %d params, the checkpoint holds %d", head, res.Cost.Params, want)
				}
			}
		})
	}
}

// TestResult checks what Export reports against the file and the checkpoint, and that the
// same export twice, by Export and by ExportCheckpoint, gives the same bytes.
func TestResult(t *testing.T) {
	f := fixtureNamed(t, "resnet18-cifar")
	ckpt, c := f.checkpoint(t), f.read(t)
	dir := t.TempDir()
	for _, format := range Formats {
		t.Run(string(format), func(t *testing.T) {
			var sums []string
			for i := 0; i < 2; i++ {
				out := filepath.Join(dir, fmt.Sprintf("%d.%s", i, format))
				opt := Options{Format: format, ImageSize: 20}
				res, err := Export(context.Background(), ckpt, opt, out)
				if i == 1 {
					res, err = ExportCheckpoint(context.Background(), c, opt, out)
				}
				if err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(b)
				if res.SHA256 != hex.EncodeToString(sum[:]) || res.Bytes != int64(len(b)) || res.Path != out || res.Format != format {
					t.Fatalf("result %+v for a file of %d bytes, sha256 %x", res, len(b), sum)
				}
				if res.Checkpoint != ckpt || res.CheckpointSHA256 != c.SHA256 || res.Step != c.Header.Step || res.RunID != c.Header.RunID ||
					res.ConfigHash != c.Header.ConfigHash || res.ImageSize != 20 || res.Dim != 8*f.model.Width || res.ProjDim != 0 {
					t.Fatalf("result %+v", res)
				}
				if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o644 {
					t.Fatalf("mode %v, %v", st.Mode(), err)
				}
				sums = append(sums, res.SHA256)
			}
			if sums[0] != sums[1] {
				t.Fatal("two exports of the same checkpoint differ")
			}
		})
	}
}

// TestMetadata reads back the metadata of both formats.
func TestMetadata(t *testing.T) {
	f := fixtureNamed(t, "convnet-small")
	ckpt, c := f.checkpoint(t), f.read(t)
	dir := t.TempDir()
	opt := Options{Version: "1.2.3", Metadata: map[string]string{"run_name": "demo"}}
	want := map[string]string{
		"natssl_version": "1.2.3", "run_id": c.Header.RunID, "config_hash": c.Header.ConfigHash,
		"step": strconv.FormatInt(c.Header.Step, 10), "checkpoint_sha256": c.SHA256,
		"backbone": "convnet-small", "width": "4", "image_size": "16", "input": "images", "input_layout": "NCHW float32 RGB",
		"normalization_mean": "[0.485, 0.456, 0.406]", "normalization_std": "[0.229, 0.224, 0.225]",
		"features_dim": "32", "with_head": "false", "run_name": "demo",
	}
	if c.Header.RunID == "" || c.Header.Step == 0 {
		t.Fatalf("fixture header %+v", c.Header)
	}
	if float32(0.485) != augment.Mean[0] || float32(0.225) != augment.Std[2] {
		t.Fatal("augment's normalisation changed: update the expected metadata")
	}

	opt.Format = ONNX
	out := filepath.Join(dir, "m.onnx")
	if _, err := Export(context.Background(), ckpt, opt, out); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	mp, err := gonnx.ModelProtoFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range mp.MetadataProps {
		got[p.Key] = p.Value
	}
	checkMeta(t, "onnx", got, want)
	if mp.ProducerName != "natssl" || mp.ProducerVersion != "1.2.3" || mp.ModelVersion != c.Header.Step ||
		!strings.Contains(mp.DocString, "(batch, 3, 16, 16)") {
		t.Errorf("producer %q %q, model version %d, doc %q", mp.ProducerName, mp.ProducerVersion, mp.ModelVersion, mp.DocString)
	}

	opt.Format = SafeTensors
	out = filepath.Join(dir, "m.safetensors")
	if _, err := Export(context.Background(), ckpt, opt, out); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(out)
	st, err := safetensors.Deserialize(b)
	if err != nil {
		t.Fatal(err)
	}
	_, header, err := safetensors.ReadMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	want["format"] = "pt"
	checkMeta(t, "safetensors", header.Metadata(), want)
	nbt, ok := st.Tensor("bn1.num_batches_tracked")
	if !ok || nbt.DType() != safetensors.I64 || len(nbt.Shape()) != 0 || len(nbt.Data()) != 8 ||
		int64(binary.LittleEndian.Uint64(nbt.Data())) != c.Header.Step {
		t.Errorf("bn1.num_batches_tracked: %v %v %v", nbt.DType(), nbt.Shape(), nbt.Data())
	}
	if st.Len() != 4*6 {
		t.Errorf("%d tensors, want 24 (4 convs, 4 batch norms of 5)", st.Len())
	}
}

func checkMeta(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s metadata %s = %q, want %q", what, k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s metadata has %d keys, want %d: %v", what, len(got), len(want), got)
	}
}

// TestBadInput wants one-line errors that name the problem, and no file left behind: the
// output path keeps what it held, and no temporary file stays in its folder.
func TestBadInput(t *testing.T) {
	ckpt := fixtureNamed(t, "convnet-small").checkpoint(t)
	good, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	torn := filepath.Join(dir, "torn.ckpt")
	if err := os.WriteFile(torn, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	notCkpt := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notCkpt, []byte("not a checkpoint at all, but long enough to pass the size check"), 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(outDir, "existing.onnx")
	asDir := filepath.Join(outDir, "a-folder.onnx")
	if err := os.Mkdir(asDir, 0o755); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		ckpt  string
		opt   Options
		out   string
		want  string
		is    error
		noOut bool
	}{
		{name: "missing checkpoint", ckpt: filepath.Join(dir, "nope.ckpt"), out: existing, want: "nope.ckpt", is: os.ErrNotExist},
		{name: "torn checkpoint", ckpt: torn, out: existing, want: "torn.ckpt: checksum mismatch", is: trainer.ErrCorruptCheckpoint},
		{name: "not a checkpoint", ckpt: notCkpt, out: existing, want: "notes.txt: not a natssl checkpoint", is: trainer.ErrCorruptCheckpoint},
		{name: "output folder missing", ckpt: ckpt, out: filepath.Join(dir, "no-such-dir", "m.onnx"), want: "output folder " + filepath.Join(dir, "no-such-dir") + ": no such file", is: os.ErrNotExist, noOut: true},
		{name: "output is a folder", ckpt: ckpt, out: asDir, want: "a-folder.onnx is a folder"},
		{name: "unknown format", ckpt: ckpt, opt: Options{Format: "tflite"}, out: existing, want: `unknown format "tflite"`},
		{name: "no output", ckpt: ckpt, out: "", want: "no output file"},
		{name: "negative image size", ckpt: ckpt, opt: Options{ImageSize: -3}, out: existing, want: "image size -3"},
		{name: "metadata key taken", ckpt: ckpt, opt: Options{Metadata: map[string]string{"step": "9"}}, out: existing, want: `metadata key "step"`},
		{name: "canceled", ctx: canceled, ckpt: ckpt, out: existing, want: "export: context canceled", is: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(existing, []byte("the previous export"), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			if tc.opt.Format == "" {
				tc.opt.Format = ONNX
			}
			res, err := Export(ctx, tc.ckpt, tc.opt, tc.out)
			if err == nil {
				t.Fatalf("no error, result %+v", res)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("error %q: want one line with %q, wrapping %v", msg, tc.want, tc.is)
			}
			t.Log(msg)
			if b, _ := os.ReadFile(existing); string(b) != "the previous export" {
				t.Fatalf("%s now holds %q", existing, b)
			}
			if st, err := os.Stat(asDir); err != nil || !st.IsDir() {
				t.Fatalf("%s: %v", asDir, err)
			}
			if tc.noOut {
				if _, err := os.Stat(tc.out); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s exists: %v", tc.out, err)
				}
			}
			ents, _ := os.ReadDir(outDir)
			if len(ents) != 2 {
				t.Fatalf("%s holds %d entries, want the 2 it had", outDir, len(ents))
			}
		})
	}
}

// TestWriteFileAtomic: a writer that fails half-way leaves the old file and no temporary
// file; one that succeeds replaces the file and reports its hash and size.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.onnx")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	_, _, err := writeFileAtomic(path, func(w io.Writer) error {
		w.Write(make([]byte, 3<<20)) // past the write buffer: the temporary file has data
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("file now %d bytes", len(b))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d entries left in the folder", len(ents))
	}
	sum, n, err := writeFileAtomic(path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err })
	want := sha256.Sum256([]byte("new"))
	if err != nil || n != 3 || sum != hex.EncodeToString(want[:]) {
		t.Fatalf("%s %d %v", sum, n, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("file holds %q", b)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := writeFileAtomic(sub, func(w io.Writer) error { return nil }); err == nil || strings.Contains(err.Error(), ".tmp-") {
		t.Fatalf("rename over a folder: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("%d entries left in the folder, want 2", len(ents))
	}
}

// TestCheckpointTensors: a checkpoint that lacks a tensor the model needs, or holds one of
// another size, is refused naming the tensor, in both formats.
func TestCheckpointTensors(t *testing.T) {
	c, err := trainer.ReadCheckpoint(fixtureNamed(t, "resnet18-cifar").checkpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.Config()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(cfg.Model, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tensor string
		values       []float32
		want         string
	}{
		{"missing batch-norm variance", "bn/enc.layer2.0.down.bn/var", nil, "has no tensor bn/enc.layer2.0.down.bn/var"},
		{"short conv weight", "param/enc.layer3.1.conv2.w", make([]float32, 7), "tensor param/enc.layer3.1.conv2.w has 7 values"},
		{"missing head bias", "param/head.fc2.b", nil, "has no tensor param/head.fc2.b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := c.Tensors[tc.tensor]
			defer func() { c.Tensors[tc.tensor] = saved }()
			if tc.values == nil {
				delete(c.Tensors, tc.tensor)
			} else {
				c.Tensors[tc.tensor] = tc.values
			}
			_, err1 := onnxModel(p, tensors{c}, nil, "")
			_, err2 := safetensorsViews(p, tensors{c}, 1)
			for _, err := range []error{err1, err2} {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
		ok   bool
	}{{"onnx", ONNX, true}, {"safetensors", SafeTensors, true}, {"ONNX", "", false}, {"", "", false}, {"pt", "", false}} {
		got, err := ParseFormat(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseFormat(%q) = %q, %v", tc.in, got, err)
		}
		if tc.ok && got.Ext() != "."+tc.in {
			t.Errorf("%q.Ext() = %q", got, got.Ext())
		}
	}
}
