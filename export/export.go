package export

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/natssl/natssl/augment"
	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/trainer"
)

// Format is a file format an encoder is exported to.
type Format string

const (
	ONNX        Format = "onnx"
	SafeTensors Format = "safetensors"
)

// Formats are the formats Export writes, in the order they are listed to users.
var Formats = []Format{ONNX, SafeTensors}

// Ext is the file extension of the format, with its dot: ".onnx", ".safetensors".
func (f Format) Ext() string { return "." + string(f) }

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("export: unknown format %q (want onnx or safetensors)", s)
}

// Options configure Export.
type Options struct {
	Format Format
	// WithHead adds the projection head: in ONNX a second output, projection; in
	// safetensors the head.* tensors.
	WithHead bool
	// ImageSize is the side of the ONNX input (and of the cost figures); 0 takes the run's
	// eval.image_size, or data.image_size when that is 0.
	ImageSize int
	// Version is the natssl version recorded in the file ("dev" when empty).
	Version string
	// Metadata are more key/value pairs to record (the run's name, say); they may not
	// replace the keys Export writes.
	Metadata map[string]string
}

// Result describes a written export.
type Result struct {
	Path   string
	Format Format
	SHA256 string // of the file
	Bytes  int64
	// The checkpoint the export came from.
	Checkpoint       string
	CheckpointSHA256 string
	RunID            string
	Step             int64
	ConfigHash       string
	Backbone         string
	ImageSize        int
	Dim              int // feature length
	ProjDim          int // projection length, 0 without the head
	// Cost is the exported model's (the head included when there is one) at ImageSize.
	Cost Cost
}

// Export reads a natssl checkpoint and writes its encoder to out in opt.Format. The file
// is written atomically: out is either left as it was or replaced by the whole export.
func Export(ctx context.Context, checkpoint string, opt Options, out string) (*Result, error) {
	if err := checkRequest(opt, out); err != nil {
		return nil, err
	}
	c, err := trainer.ReadCheckpoint(checkpoint)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return ExportCheckpoint(ctx, c, opt, out)
}

// ExportCheckpoint is Export of a checkpoint already read and verified by
// trainer.ReadCheckpoint (as a caller that looked for a run's latest checkpoint has), so
// that it is not read twice.
func ExportCheckpoint(ctx context.Context, c *trainer.Checkpoint, opt Options, out string) (*Result, error) {
	if err := checkRequest(opt, out); err != nil {
		return nil, err
	}
	cfg, err := c.Config()
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	size := opt.ImageSize
	if size == 0 {
		size = EvalImageSize(cfg)
	}
	if m := cfg.Method.Name; opt.WithHead && m != "simclr" && m != "byol" {
		// The export writes the head Linear-BN-ReLU-Linear; these methods' projectors differ.
		return nil, fmt.Errorf("export: --with-head writes SimCLR's projection head (Linear-BN-ReLU-Linear, as BYOL's projector is); this run's method %s has another projector: export the encoder alone", m)
	}
	p, err := newPlan(cfg.Model, size, opt.WithHead)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	meta, err := metadata(c, cfg, p, opt)
	if err != nil {
		return nil, err
	}
	t := tensors{c}
	var write func(io.Writer) error
	switch opt.Format {
	case ONNX:
		m, err := onnxModel(p, t, meta, inputDoc(p))
		if err != nil {
			return nil, err
		}
		m.ProducerVersion, m.ModelVersion = version(opt), c.Header.Step
		b, err := marshalONNX(m)
		if err != nil {
			return nil, err
		}
		write = func(w io.Writer) error { _, err := w.Write(b); return err }
	case SafeTensors:
		views, err := safetensorsViews(p, t, c.Header.Step)
		if err != nil {
			return nil, err
		}
		meta = append(meta, keyValue{"format", "pt"})
		write = func(w io.Writer) error { return writeSafetensors(w, views, meta) }
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	sum, n, err := writeFileAtomic(out, write)
	if err != nil {
		return nil, err
	}
	return &Result{
		Path: out, Format: opt.Format, SHA256: sum, Bytes: n,
		Checkpoint: c.Path, CheckpointSHA256: c.SHA256, RunID: c.Header.RunID, Step: c.Header.Step,
		ConfigHash: c.Header.ConfigHash, Backbone: cfg.Model.Backbone, ImageSize: size,
		Dim: p.dim, ProjDim: p.projDim, Cost: p.cost(),
	}, nil
}

// checkRequest refuses, before any work, an unknown format and an output that cannot be
// written.
func checkRequest(opt Options, out string) error {
	if _, err := ParseFormat(string(opt.Format)); err != nil {
		return err
	}
	return checkOutput(out)
}

// checkOutput refuses, before any work, an output path that cannot be written: empty, a
// folder, or in a folder that does not exist.
func checkOutput(out string) error {
	if out == "" {
		return fmt.Errorf("export: no output file")
	}
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return fmt.Errorf("export: output %s is a folder", out)
	}
	dir := filepath.Dir(out)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("export: output folder %s: %w", dir, unwrapPath(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("export: output folder %s is not a folder", dir)
	}
	return nil
}

// EvalImageSize is the side natssl evaluates a run's encoder at: eval.image_size, or
// data.image_size when that is 0.
func EvalImageSize(cfg *configs.Config) int {
	if cfg.Eval.ImageSize > 0 {
		return cfg.Eval.ImageSize
	}
	return cfg.Data.ImageSize
}

// EncoderCost is the cost of a backbone (without the projection head) on one square image
// of the given side.
func EncoderCost(m configs.Model, imageSize int) (Cost, error) {
	p, err := newPlan(m, imageSize, false)
	if err != nil {
		return Cost{}, err
	}
	return p.cost(), nil
}

// keyValue is one metadata entry; a slice of them keeps the file's order fixed.
type keyValue struct{ key, value string }

// metadata lists what the file records about where it came from and what it expects.
func metadata(c *trainer.Checkpoint, cfg *configs.Config, p *plan, opt Options) ([]keyValue, error) {
	kv := []keyValue{
		{"natssl_version", version(opt)},
		{"run_id", c.Header.RunID},
		{"config_hash", c.Header.ConfigHash},
		{"step", strconv.FormatInt(c.Header.Step, 10)},
		{"checkpoint_sha256", c.SHA256},
		{"backbone", cfg.Model.Backbone},
		{"width", strconv.Itoa(cfg.Model.Width)},
		{"image_size", strconv.Itoa(p.size)},
		{"input", input},
		{"input_layout", "NCHW float32 RGB"},
		{"normalization_mean", floats(augment.Mean[:])},
		{"normalization_std", floats(augment.Std[:])},
		{"features_dim", strconv.Itoa(p.dim)},
		{"with_head", strconv.FormatBool(p.projection != "")},
	}
	if p.projection != "" {
		kv = append(kv, keyValue{"projection_dim", strconv.Itoa(p.projDim)})
	}
	taken := map[string]bool{"format": true}
	for _, e := range kv {
		taken[e.key] = true
	}
	keys := make([]string, 0, len(opt.Metadata))
	for k := range opt.Metadata {
		if taken[k] {
			return nil, fmt.Errorf("export: metadata key %q is one Export writes", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kv = append(kv, keyValue{k, opt.Metadata[k]})
	}
	return kv, nil
}

// version is the natssl version to record: "dev", as an unstamped build calls itself,
// when the caller gives none.
func version(opt Options) string {
	if opt.Version == "" {
		return "dev"
	}
	return opt.Version
}

// floats formats values as a JSON list.
func floats(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// inputDoc says what the ONNX input must hold, for the model's doc string.
func inputDoc(p *plan) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "natssl %s encoder (width %d). Input %q: float32 NCHW, shape (batch, 3, %d, %d), RGB: "+
		"the shorter side resized to %d with antialiasing, a centre crop of %d×%d, values scaled to [0, 1], "+
		"then (x - mean) / std per channel with mean %s and std %s. Output %q: the pooled backbone features, "+
		"shape (batch, %d).", p.model.Backbone, p.model.Width, input, p.size, p.size, p.size, p.size, p.size,
		floats(augment.Mean[:]), floats(augment.Std[:]), featuresName, p.dim)
	if p.projection != "" {
		fmt.Fprintf(&b, " Output %q: the projection head's output, shape (batch, %d).", projectionName, p.projDim)
	}
	return b.String()
}
