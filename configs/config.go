package configs

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/natssl/natssl/internal/redact"
)

// Config is one fully resolved run configuration. Its YAML form is the contract of
// docs/DESIGN.md.
type Config struct {
	Run       Run       `yaml:"run"`
	Data      Data      `yaml:"data"`
	Augment   Augment   `yaml:"augment"`
	Model     Model     `yaml:"model"`
	Method    Method    `yaml:"method"`
	Train     Train     `yaml:"train"`
	Eval      Eval      `yaml:"eval"`
	SageMaker SageMaker `yaml:"sagemaker"`

	// origins maps a leaf key to where its value came from ("default", "file.yaml:12",
	// "env NATSSL_TRAIN_LR", "--set train.lr=0.1"), for error messages.
	origins map[string]string
	// warnings are what Load noticed but did not refuse (see Warnings).
	warnings []string
}

// Run names a run and says where its outputs go.
type Run struct {
	Name   string `yaml:"name"`
	Seed   int64  `yaml:"seed"`
	OutDir string `yaml:"out_dir"`
	DB     string `yaml:"db"`
}

// Data says where images come from and how they are batched.
type Data struct {
	Source        string `yaml:"source"`
	Root          string `yaml:"root"`
	ImageSize     int    `yaml:"image_size"`
	BatchSize     int    `yaml:"batch_size"`
	Workers       int    `yaml:"workers"`
	ShuffleBuffer int    `yaml:"shuffle_buffer"`
	// MaxImageBytes caps one image file, archive member or S3 object read into memory;
	// larger ones are skipped and counted as too_large, unread.
	MaxImageBytes int `yaml:"max_image_bytes"`
	S3            S3  `yaml:"s3"`
}

// S3 configures access to s3:// sources.
type S3 struct {
	Region    string `yaml:"region"`
	Endpoint  string `yaml:"endpoint"`
	Anonymous bool   `yaml:"anonymous"`
	// Concurrency is the GETs in flight per tar stream (range requests of one object).
	Concurrency int `yaml:"concurrency"`

	// RetryFor is how long a failing S3 read is retried, with backoff, before the run
	// stops (with a checkpoint, resumable) naming the shard.
	RetryFor Duration `yaml:"retry_for"`
}

// Augment holds SimCLR's augmentation parameters.
type Augment struct {
	CropScale  [2]float64 `yaml:"crop_scale,flow"`
	CropRatio  [2]float64 `yaml:"crop_ratio,flow"`
	FlipP      float64    `yaml:"flip_p"`
	Jitter     Jitter     `yaml:"jitter"`
	GrayscaleP float64    `yaml:"grayscale_p"`
	Blur       Blur       `yaml:"blur"`
	SolarizeP  float64    `yaml:"solarize_p"`
	// Crops are the groups of views drawn from each image (multi-crop); empty: two views at
	// data.image_size of CropScale. See Config.ViewGroups.
	Crops []Crop `yaml:"crops"`
}

// Jitter is colour jitter: strengths and the probability of applying it.
type Jitter struct {
	Brightness float64 `yaml:"brightness"`
	Contrast   float64 `yaml:"contrast"`
	Saturation float64 `yaml:"saturation"`
	Hue        float64 `yaml:"hue"`
	P          float64 `yaml:"p"`
}

// Blur is Gaussian blur: probability and sigma range.
type Blur struct {
	P     float64    `yaml:"p"`
	Sigma [2]float64 `yaml:"sigma,flow"`
}

// Model chooses the encoder and the projection head.
type Model struct {
	Backbone   string `yaml:"backbone"`
	Width      int    `yaml:"width"`
	ProjHidden int    `yaml:"proj_hidden"`
	ProjDim    int    `yaml:"proj_dim"`
}

// Train holds the optimisation schedule and where replicas run.
type Train struct {
	Steps       int      `yaml:"steps"`
	Epochs      int      `yaml:"epochs"`
	Optimizer   string   `yaml:"optimizer"`
	LR          float64  `yaml:"lr"`
	WeightDecay float64  `yaml:"weight_decay"`
	Momentum    float64  `yaml:"momentum"`
	WarmupSteps int      `yaml:"warmup_steps"`
	Temperature float64  `yaml:"temperature"`
	Devices     []string `yaml:"devices,flow"`
	// Precision is the arithmetic of matrix products on CUDA devices: fp32, or tf32 (tensor
	// cores, 10-bit mantissa inputs, float32 sums). The CPU computes in fp32.
	Precision       string   `yaml:"precision"`
	CheckpointEvery int      `yaml:"checkpoint_every"`
	KeepCheckpoints int      `yaml:"keep_checkpoints"`
	LogEvery        int      `yaml:"log_every"`
	TimeLimit       Duration `yaml:"time_limit"`
}

// Eval configures the NeWT linear probe: the evaluation suite (NewtCSV, Images); the
// validation suite that sweeps are judged on (ValCSV, ValImages: never the evaluation suite, so
// that choosing a recipe does not look at the test images); and the online monitor that scores
// the encoder while it trains: every MonitorEvery steps, a weighted kNN top-1 on labelled images
// (MonitorKNN) and the probe's mean on a few tasks of a NeWT-style suite (MonitorNewtTasks).
type Eval struct {
	NewtCSV    string `yaml:"newt_csv"`
	Images     string `yaml:"images"`
	Classifier string `yaml:"classifier"`
	ImageSize  int    `yaml:"image_size"`
	// ValCSV is a NeWT-layout labels CSV of the validation suite; "" for none.
	ValCSV string `yaml:"val_csv"`
	// ValImages holds its images (a folder or a .tar/.tar.gz); "" means eval.images.
	ValImages string `yaml:"val_images"`

	MonitorEvery int `yaml:"monitor_every"` // steps between monitors; 0: no monitor
	// The monitor's suite ("" means newt_csv and images) and how many of its tasks it probes
	// (0: no NeWT monitor).
	MonitorNewtCSV    string `yaml:"monitor_newt_csv"`
	MonitorNewtImages string `yaml:"monitor_newt_images"`
	MonitorNewtTasks  int    `yaml:"monitor_newt_tasks"`
	// The kNN set: labelled images read as data.source is ("" : no kNN monitor), its manifest
	// root, and how many of its images are used at most.
	MonitorKNN       string `yaml:"monitor_knn"`
	MonitorKNNRoot   string `yaml:"monitor_knn_root"`
	MonitorKNNImages int    `yaml:"monitor_knn_images"`
}

// ValImagesPath is where the validation suite's images are: eval.val_images, else eval.images.
func (e Eval) ValImagesPath() string {
	if e.ValImages != "" {
		return e.ValImages
	}
	return e.Images
}

// MonitorSuite is the monitor's NeWT-style suite: its labels CSV and images.
func (e Eval) MonitorSuite() (csv, images string) {
	csv, images = e.MonitorNewtCSV, e.MonitorNewtImages
	if csv == "" {
		csv = e.NewtCSV
	}
	if images == "" {
		images = e.Images
	}
	return csv, images
}

// SageMaker configures `natssl launch`.
type SageMaker struct {
	Image         string `yaml:"image"`
	RoleARN       string `yaml:"role_arn"`
	InstanceType  string `yaml:"instance_type"`
	InstanceCount int    `yaml:"instance_count"`
	UseSpot       bool   `yaml:"use_spot"`
	MaxRunS       int    `yaml:"max_run_s"`
	CheckpointS3  string `yaml:"checkpoint_s3"`
	OutputS3      string `yaml:"output_s3"`
	Endpoint      string `yaml:"endpoint"`
}

// Duration is a time.Duration written in YAML as "10m" or "1h30m"; 0 means no limit.
type Duration time.Duration

// MarshalYAML writes the duration as Go's duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// YAML returns the configuration as YAML, every key present that means something for the
// method (a key of another method is left out): what will actually run, with the credentials
// of URLs masked (an endpoint's user:password@), since it is printed and stored (the tracker,
// checkpoints, model artefacts).
func (c *Config) YAML() ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(c.redacted()); err != nil {
		return nil, fmt.Errorf("configs: encode: %w", err)
	}
	c.dropForeign(&doc, "")
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("configs: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("configs: encode: %w", err)
	}
	return []byte(b.String()), nil
}

// dropForeign removes from an encoded config the leaf keys that do not apply to its method.
func (c *Config) dropForeign(n *yaml.Node, prefix string) {
	if n.Kind != yaml.MappingNode {
		return
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		if IsKey(key) && !c.Applies(key) {
			continue
		}
		if isSection(key) {
			c.dropForeign(v, key)
		}
		kept = append(kept, k, v)
	}
	n.Content = kept
}

// Flatten returns every leaf key that applies to the method with its value as a string, in
// key order: the run's params. The credentials of URLs are masked, as in YAML.
func (c *Config) Flatten() []KeyValue {
	out := c.FlattenWithCredentials()
	for i := range out {
		out[i].Value = redact.String(out[i].Value)
	}
	return out
}

// FlattenWithCredentials is Flatten with credentials left in: for handing the config to a
// process that must use them (a SageMaker job's hyperparameters), never for storing or
// printing.
func (c *Config) FlattenWithCredentials() []KeyValue {
	var out []KeyValue
	for _, k := range Keys() {
		if !c.Applies(k) {
			continue
		}
		v, _ := c.Get(k)
		out = append(out, KeyValue{Key: k, Value: formatValue(v)})
	}
	return out
}

// redacted returns a copy whose string values have their credentials masked.
func (c *Config) redacted() *Config {
	n := c.Clone()
	v := reflect.ValueOf(n).Elem()
	for _, f := range fields() {
		if fv := v.FieldByIndex(f.index); fv.Kind() == reflect.String {
			fv.SetString(redact.String(fv.String()))
		}
	}
	return n
}

// KeyValue is one flattened config entry.
type KeyValue struct{ Key, Value string }

// Origin says where key's value came from, or "" for an unknown key.
func (c *Config) Origin(key string) string {
	if c.origins == nil {
		return "default"
	}
	return c.origins[key]
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	n := *c
	n.Train.Devices = append([]string(nil), c.Train.Devices...)
	n.Augment.Crops = append([]Crop(nil), c.Augment.Crops...)
	n.origins = make(map[string]string, len(c.origins))
	for k, v := range c.origins {
		n.origins[k] = v
	}
	return &n
}

// Replicas is the number of data-parallel replicas: one per entry of train.devices.
func (c *Config) Replicas() int { return len(c.Train.Devices) }
