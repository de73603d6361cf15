package configs

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/natssl/natssl/internal/redact"
)

// FieldError is one problem with one key: what, where it came from, and why it is refused.
type FieldError struct {
	Key    string
	Value  string
	Reason string
	Origin string // "file.yaml:12", "env NATSSL_TRAIN_LR", "--set train.lr=x", "default"
}

// Error is one line naming the origin, the key and the value, credentials masked.
func (e *FieldError) Error() string { return redact.String(e.line()) }

func (e *FieldError) line() string {
	var b strings.Builder
	if e.Origin != "" {
		b.WriteString(e.Origin)
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		if e.Value != "" {
			fmt.Fprintf(&b, " = %q", e.Value)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Errors is every problem found in one configuration; it prints one line each.
type Errors []*FieldError

func (es *Errors) Error() string {
	lines := make([]string, len(*es))
	for i, e := range *es {
		lines[i] = "config: " + e.Error()
	}
	return strings.Join(lines, "\n")
}

// Upper bounds of sizes: far above any sensible run, low enough that a typo (a width of
// 100000, a batch of 2e9) is refused before anything is allocated. What fits the machine is
// checked when training starts, from an estimate of the memory the model and batch need.
const (
	MaxImageSize     = 2048    // data.image_size, eval.image_size (pixels per side)
	MaxBatchSize     = 1 << 16 // data.batch_size
	MaxWorkers       = 1024    // data.workers
	MaxShuffleBuffer = 1 << 22 // data.shuffle_buffer (samples)
	MaxImageBytes    = 1 << 30 // data.max_image_bytes
	MaxWidth         = 1024    // model.width
	MaxProjDim       = 1 << 14 // model.proj_hidden, model.proj_dim
	MaxDevices       = 64      // entries of train.devices
	MaxMonitorImages = 1 << 16 // eval.monitor_knn_images
	MaxQueueSize     = 1 << 20 // method.queue_size (keys)
)

var (
	backbones   = []string{"convnet-small", "resnet18-cifar", "resnet18", "resnet50"}
	optimizers  = []string{"lars", "sgd", "adamw"}
	classifiers = []string{"linearsvc", "logreg"}
)

// maxS3Concurrency bounds data.s3.concurrency: each GET in flight holds a part of 8 MiB.
const maxS3Concurrency = 64

// Validate checks every value's range and the relations between keys. It returns *Errors.
func (c *Config) Validate() error {
	var errs Errors
	bad := func(key, reason string) {
		v, _ := c.Get(key)
		errs = append(errs, &FieldError{Key: key, Value: formatValue(v), Reason: reason, Origin: c.Origin(key)})
	}
	nonEmpty := func(key, s string) {
		if strings.TrimSpace(s) == "" {
			bad(key, "must not be empty")
		}
	}
	atLeast := func(key string, n, lo int) {
		if n < lo {
			bad(key, fmt.Sprintf("must be at least %d", lo))
		}
	}
	within := func(key string, n, lo, hi int) {
		switch {
		case n < lo:
			bad(key, fmt.Sprintf("must be at least %d", lo))
		case n > hi:
			bad(key, fmt.Sprintf("must be at most %d", hi))
		}
	}
	prob := func(key string, p float64) {
		if !(p >= 0 && p <= 1) {
			bad(key, "a probability must be in [0, 1]")
		}
	}
	oneOf := func(key, s string, set []string) {
		for _, x := range set {
			if s == x {
				return
			}
		}
		bad(key, "must be one of "+strings.Join(set, ", "))
	}
	s3uri := func(key, s string) {
		if s != "" && !strings.HasPrefix(s, "s3://") {
			bad(key, "must be an s3:// URI")
		}
	}

	nonEmpty("run.out_dir", c.Run.OutDir)
	nonEmpty("run.db", c.Run.DB)

	nonEmpty("data.source", c.Data.Source)
	within("data.image_size", c.Data.ImageSize, 8, MaxImageSize)
	within("data.batch_size", c.Data.BatchSize, 1, MaxBatchSize)
	within("data.workers", c.Data.Workers, 0, MaxWorkers)
	within("data.shuffle_buffer", c.Data.ShuffleBuffer, 0, MaxShuffleBuffer)
	within("data.max_image_bytes", c.Data.MaxImageBytes, 1<<10, MaxImageBytes)
	if c.Data.S3.RetryFor <= 0 {
		bad("data.s3.retry_for", "must be a duration > 0, such as 10m")
	}
	if n := c.Data.S3.Concurrency; n < 1 || n > maxS3Concurrency {
		bad("data.s3.concurrency", fmt.Sprintf("must be in [1, %d] (GETs in flight per tar stream; 1 reads each with one)", maxS3Concurrency))
	}

	a := c.Augment
	if !(a.CropScale[0] > 0 && a.CropScale[0] <= a.CropScale[1] && a.CropScale[1] <= 1) {
		bad("augment.crop_scale", "want [min, max] with 0 < min <= max <= 1")
	}
	if !(a.CropRatio[0] > 0 && a.CropRatio[0] <= a.CropRatio[1]) {
		bad("augment.crop_ratio", "want [min, max] with 0 < min <= max")
	}
	prob("augment.flip_p", a.FlipP)
	prob("augment.jitter.p", a.Jitter.P)
	prob("augment.grayscale_p", a.GrayscaleP)
	prob("augment.blur.p", a.Blur.P)
	prob("augment.solarize_p", a.SolarizeP)
	for key, s := range map[string]float64{"augment.jitter.brightness": a.Jitter.Brightness, "augment.jitter.contrast": a.Jitter.Contrast, "augment.jitter.saturation": a.Jitter.Saturation} {
		if !(s >= 0) {
			bad(key, "a jitter strength must be >= 0")
		}
	}
	if !(a.Jitter.Hue >= 0 && a.Jitter.Hue <= 0.5) {
		bad("augment.jitter.hue", "hue jitter must be in [0, 0.5]")
	}
	if !(a.Blur.Sigma[0] > 0 && a.Blur.Sigma[0] <= a.Blur.Sigma[1]) {
		bad("augment.blur.sigma", "want [min, max] with 0 < min <= max")
	}

	c.validateCrops(bad)

	oneOf("model.backbone", c.Model.Backbone, backbones)
	within("model.width", c.Model.Width, 1, MaxWidth)
	within("model.proj_hidden", c.Model.ProjHidden, 1, MaxProjDim)
	within("model.proj_dim", c.Model.ProjDim, 1, MaxProjDim)
	c.validateMethod(bad)

	t := c.Train
	atLeast("train.steps", t.Steps, 0)
	atLeast("train.epochs", t.Epochs, 0)
	if t.Steps > 0 && t.Epochs > 0 {
		bad("train.epochs", "set train.steps or train.epochs, not both (the other must be 0)")
	} else if t.Steps == 0 && t.Epochs == 0 {
		bad("train.steps", "one of train.steps or train.epochs must be > 0")
	}
	oneOf("train.optimizer", t.Optimizer, optimizers)
	if !(t.LR > 0) {
		bad("train.lr", "must be > 0")
	}
	if !(t.WeightDecay >= 0) {
		bad("train.weight_decay", "must be >= 0")
	}
	if !(t.Momentum >= 0 && t.Momentum < 1) {
		bad("train.momentum", "must be in [0, 1)")
	}
	atLeast("train.warmup_steps", t.WarmupSteps, 0)
	if !(t.Temperature > 0) {
		bad("train.temperature", "must be > 0")
	}
	if len(t.Devices) == 0 {
		bad("train.devices", "must name at least one device (cpu, cuda:N, or auto)")
	}
	if len(t.Devices) > MaxDevices {
		bad("train.devices", fmt.Sprintf("at most %d devices", MaxDevices))
	}
	gpus := 0
	for _, d := range t.Devices {
		if d == "auto" {
			if len(t.Devices) > 1 {
				// auto is one process's one device, the one its local rank names.
				bad("train.devices", "auto stands alone ([auto]: one device per process, the one following its local MPI rank)")
				gpus = -1
				break
			}
			continue
		}
		dev, err := ParseDevice(d)
		if err != nil && !strings.HasPrefix(d, "cuda:") {
			err = fmt.Errorf("%q is not a device: want cpu, cuda:N, or auto", d)
		}
		if err != nil {
			bad("train.devices", err.Error())
			gpus = -1
			break
		}
		if dev.CUDA {
			gpus++
		}
	}
	if gpus > 0 && gpus < len(t.Devices) {
		bad("train.devices", "mixes the CPU and GPUs: every replica runs on the same kind of device")
	}
	oneOf("train.precision", t.Precision, precisions)
	if t.Precision == PrecisionTF32 && len(t.Devices) > 0 && !t.UsesCUDA() && !t.Auto() {
		bad("train.precision", "tf32 is a mode of NVIDIA GPUs' matrix units, and train.devices names none: the CPU computes in fp32")
	}
	if n := len(t.Devices); n > 0 && c.Data.BatchSize > 0 && c.Data.BatchSize%n != 0 {
		bad("data.batch_size", fmt.Sprintf("the global batch must divide evenly over the %d devices of train.devices", n))
	}
	atLeast("train.checkpoint_every", t.CheckpointEvery, 0)
	atLeast("train.keep_checkpoints", t.KeepCheckpoints, 1)
	atLeast("train.log_every", t.LogEvery, 1)
	if t.TimeLimit < 0 {
		bad("train.time_limit", "must be >= 0 (0 means no limit)")
	}

	oneOf("eval.classifier", c.Eval.Classifier, classifiers)
	within("eval.image_size", c.Eval.ImageSize, 8, MaxImageSize)
	if strings.TrimSpace(c.Eval.ValImages) != "" && strings.TrimSpace(c.Eval.ValCSV) == "" {
		bad("eval.val_images", "names the validation images, but eval.val_csv (the validation suite's labels) is empty")
	}
	if v := c.Eval.ValCSV; v != "" && filepath.Clean(v) == filepath.Clean(c.Eval.NewtCSV) {
		bad("eval.val_csv", "is the evaluation suite (eval.newt_csv): a validation suite must be held out from it")
	}
	c.validateMonitor(bad, atLeast, within)

	// Several instances train one model over MPI: the image's natssl needs MPI, which only
	// the job itself can tell (a natssl without it refuses there, with one line).
	atLeast("sagemaker.instance_count", c.SageMaker.InstanceCount, 1)
	atLeast("sagemaker.max_run_s", c.SageMaker.MaxRunS, 1)
	s3uri("sagemaker.checkpoint_s3", c.SageMaker.CheckpointS3)
	s3uri("sagemaker.output_s3", c.SageMaker.OutputS3)

	for _, k := range Keys() {
		if !finite(c, k) {
			bad(k, "want a finite number")
		}
	}

	if len(errs) > 0 {
		return &errs
	}
	return nil
}

// finite reports whether key's value holds no infinity or NaN (for keys that are not numbers,
// true). Load refuses them as it converts; this catches values set in code.
func finite(c *Config, key string) bool {
	v, _ := c.Get(key)
	var xs []float64
	switch x := v.(type) {
	case float64:
		xs = []float64{x}
	case [2]float64:
		xs = x[:]
	}
	for _, x := range xs {
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return false
		}
	}
	return true
}

// validateMonitor checks the online monitor's keys: a monitor that is on must have something
// to score, and each of its scores what it needs.
func (c *Config) validateMonitor(bad func(key, reason string), atLeast func(key string, n, lo int), within func(key string, n, lo, hi int)) {
	e := c.Eval
	atLeast("eval.monitor_every", e.MonitorEvery, 0)
	atLeast("eval.monitor_newt_tasks", e.MonitorNewtTasks, 0)
	within("eval.monitor_knn_images", e.MonitorKNNImages, 2, MaxMonitorImages)
	if e.MonitorEvery <= 0 {
		return
	}
	knn := strings.TrimSpace(e.MonitorKNN) != ""
	newt := e.MonitorNewtTasks > 0
	if !knn && !newt {
		bad("eval.monitor_every", "the monitor has nothing to score: set eval.monitor_knn (labelled images for a kNN score) or eval.monitor_newt_tasks > 0, or 0 here to turn it off")
	}
	if csv, images := e.MonitorSuite(); newt && (strings.TrimSpace(csv) == "" || strings.TrimSpace(images) == "") {
		bad("eval.monitor_newt_tasks", "the NeWT monitor has no suite: set eval.monitor_newt_csv and eval.monitor_newt_images (or eval.newt_csv and eval.images), or 0 here")
	}
}
