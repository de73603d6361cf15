package sagemaker

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/tarstream"
)

// SageMaker's limits on a training job's hyperparameters.
const (
	MaxHyperparameters = 100
	MaxKeyLen          = 256
	MaxValueLen        = 2500
)

const (
	// CheckpointPath is where SageMaker syncs CheckpointConfig's S3 URI inside the container.
	CheckpointPath = "/opt/ml/checkpoints"
	// VolumeSizeGB is the ML storage volume for File-mode channels and checkpoints.
	VolumeSizeGB = 100
	// maxWait caps the spot wait at SageMaker's longest allowed run, 28 days.
	maxWait = 28 * 24 * 3600
)

var jobNameRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

// JobName returns a job name from the run's name and the time: "fmnist-simclr-20261128-013500",
// with what SageMaker refuses in a name replaced by "-".
func JobName(runName string, now time.Time) string {
	stamp := now.UTC().Format("20060102-150405")
	var b strings.Builder
	for _, r := range runName {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if max := 63 - len(stamp) - 1; len(name) > max {
		name = strings.TrimRight(name[:max], "-")
	}
	if name == "" {
		return "natssl-" + stamp
	}
	return name + "-" + stamp
}

// Hyperparameters returns the config as SageMaker hyperparameters: dotted keys, string values,
// so that the job's configs.Load rebuilds exactly cfg. Every key is sent when all of them fit
// SageMaker's limits, so that the job does not depend on the image's defaults; otherwise only
// the keys whose values differ from the embedded defaults. What cannot be sent is refused,
// naming the key.
func Hyperparameters(cfg *configs.Config) (map[string]string, error) {
	return hyperparameters(cfg, MaxHyperparameters)
}

func hyperparameters(cfg *configs.Config, maxN int) (map[string]string, error) {
	all := cfg.FlattenWithCredentials() // the job must use what the config says
	fits := len(all) <= maxN
	for _, kv := range all {
		fits = fits && len(kv.Key) <= MaxKeyLen && len(kv.Value) <= MaxValueLen
	}
	send := all
	if !fits {
		def := map[string]string{}
		for _, kv := range configs.Default().FlattenWithCredentials() {
			def[kv.Key] = kv.Value
		}
		send = nil
		for _, kv := range all {
			if kv.Value != def[kv.Key] {
				send = append(send, kv)
			}
		}
	}
	var problems []string
	if len(send) > maxN {
		problems = append(problems, fmt.Sprintf("%d keys differ from the defaults, and SageMaker takes at most %d hyperparameters: put the rarely changed ones in a config baked into the image", len(send), maxN))
	}
	out := make(map[string]string, len(send))
	for _, kv := range send {
		switch {
		case len(kv.Key) > MaxKeyLen:
			problems = append(problems, fmt.Sprintf("key %s is %d characters long; SageMaker takes at most %d", kv.Key, len(kv.Key), MaxKeyLen))
		case len(kv.Value) > MaxValueLen:
			problems = append(problems, fmt.Sprintf("%s is %d characters long; SageMaker takes hyperparameter values of at most %d", kv.Key, len(kv.Value), MaxValueLen))
		}
		out[kv.Key] = kv.Value
	}
	if len(problems) > 0 {
		return nil, errors.New("sagemaker: the config cannot be sent as hyperparameters: " +
			strings.Join(problems, "\nsagemaker: the config cannot be sent as hyperparameters: "))
	}
	return out, nil
}

// Request builds the CreateTrainingJob call that runs cfg as job name: the image and role, the
// instances (spot when sagemaker.use_spot, waiting at most twice the run time), checkpoints
// synced to sagemaker.checkpoint_s3 (by default <output_s3>/<name>/checkpoints), the train
// channel from data.source and the newt channel from the s3:// eval keys, and the config as
// hyperparameters. Every problem found is reported at once. Warnings say what the job will run
// without (a local eval suite).
func Request(cfg *configs.Config, name string) (in *sm.CreateTrainingJobInput, warnings []string, err error) {
	s := cfg.SageMaker
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !jobNameRE.MatchString(name) {
		bad("job name %q: SageMaker wants 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit", name)
	}
	if s.Image == "" {
		bad("sagemaker.image is empty: set it to the training image's ECR URI (docs/sagemaker.md)")
	}
	if !strings.HasPrefix(s.RoleARN, "arn:") {
		bad("sagemaker.role_arn %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", s.RoleARN)
	}
	if !isS3(s.OutputS3) {
		bad("sagemaker.output_s3 %q is not an s3:// URL: the job's model.tar.gz goes there", s.OutputS3)
	}
	if s.CheckpointS3 != "" && !isS3(s.CheckpointS3) {
		bad("sagemaker.checkpoint_s3 %q is not an s3:// URL", s.CheckpointS3)
	}
	if s.MaxRunS < 1 || s.MaxRunS > maxWait {
		bad("sagemaker.max_run_s %d: want 1 to %d seconds (28 days)", s.MaxRunS, maxWait)
	}
	var channels []types.Channel
	if !isS3(cfg.Data.Source) {
		bad("data.source %q is not an s3:// URL: a training job reads its data from S3 (upload it with `aws s3 sync` and set data.source=s3://...)", cfg.Data.Source)
	} else if c, err := channel(TrainChannel, cfg.Data.Source); err != nil {
		bad("data.source: %v", err)
	} else {
		channels = append(channels, c)
	}
	if cfg.Data.Root != "" && !isS3(cfg.Data.Root) {
		warnings = append(warnings, fmt.Sprintf("data.root %q is not an s3:// URL: inside the job the images are looked for beside data.source", cfg.Data.Root))
	}
	var evalS3 []string
	for _, v := range []string{cfg.Eval.NewtCSV, cfg.Eval.Images} {
		if isS3(v) {
			evalS3 = append(evalS3, v)
		}
	}
	switch len(evalS3) {
	case 0:
		warnings = append(warnings, fmt.Sprintf("eval.newt_csv %q and eval.images %q are not s3:// URLs: the job gets no %s channel", cfg.Eval.NewtCSV, cfg.Eval.Images, NewtChannel))
	default:
		if len(evalS3) == 1 {
			warnings = append(warnings, fmt.Sprintf("only %s of the eval keys is an s3:// URL: inside the job the other is looked for in the %s channel by its shape", evalS3[0], NewtChannel))
		}
		if c, err := channel(NewtChannel, evalS3...); err != nil {
			bad("eval: %v", err)
		} else {
			channels = append(channels, c)
		}
	}
	hp, err := Hyperparameters(cfg)
	if err != nil {
		problems = append(problems, strings.TrimPrefix(err.Error(), "sagemaker: "))
	}
	if len(problems) > 0 {
		// One line per problem, as config errors are printed.
		return nil, nil, errors.New("sagemaker: cannot launch: " + strings.Join(problems, "\nsagemaker: cannot launch: "))
	}

	checkpoints := s.CheckpointS3
	if checkpoints == "" {
		checkpoints = strings.TrimSuffix(s.OutputS3, "/") + "/" + name + "/checkpoints"
	}
	stop := &types.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(int32(s.MaxRunS))}
	if s.UseSpot {
		// Spot capacity may take a while and interruptions restart the job: allow up to twice
		// the run time in all, never less than the run time itself (SageMaker's rule).
		stop.MaxWaitTimeInSeconds = aws.Int32(int32(max(s.MaxRunS, min(2*s.MaxRunS, maxWait))))
	}
	in = &sm.CreateTrainingJobInput{
		TrainingJobName: aws.String(name),
		RoleArn:         aws.String(s.RoleARN),
		AlgorithmSpecification: &types.AlgorithmSpecification{
			TrainingImage:     aws.String(s.Image),
			TrainingInputMode: types.TrainingInputModeFile,
		},
		HyperParameters: hp,
		InputDataConfig: channels,
		OutputDataConfig: &types.OutputDataConfig{
			S3OutputPath: aws.String(s.OutputS3),
		},
		ResourceConfig: &types.ResourceConfig{
			InstanceType:   types.TrainingInstanceType(s.InstanceType),
			InstanceCount:  aws.Int32(int32(s.InstanceCount)),
			VolumeSizeInGB: aws.Int32(VolumeSizeGB),
		},
		StoppingCondition:         stop,
		EnableManagedSpotTraining: aws.Bool(s.UseSpot),
		CheckpointConfig: &types.CheckpointConfig{
			S3Uri:     aws.String(checkpoints),
			LocalPath: aws.String(CheckpointPath),
		},
	}
	return in, warnings, nil
}

// channel describes an S3 channel that carries uris. Tar shards are read once, in order, so
// they are streamed (FastFile) rather than copied to the volume first; folders of images and
// manifests are copied (File), since many small random reads are slow through FastFile.
func channel(name string, uris ...string) (types.Channel, error) {
	prefix, err := channelPrefix(uris...)
	if err != nil {
		return types.Channel{}, err
	}
	mode := types.TrainingInputModeFile
	if name == TrainChannel && tarstream.IsName(uris[0]) {
		mode = types.TrainingInputModeFastfile
	}
	return types.Channel{
		ChannelName: aws.String(name),
		InputMode:   mode,
		DataSource: &types.DataSource{S3DataSource: &types.S3DataSource{
			S3DataType:             types.S3DataTypeS3Prefix,
			S3Uri:                  aws.String(prefix),
			S3DataDistributionType: types.S3DataDistributionFullyReplicated,
		}},
	}, nil
}

// RequestJSON returns the request as indented JSON, the fields SageMaker would receive: unset
// (null) and empty enum fields are left out, hyperparameters are kept even when empty.
func RequestJSON(in *sm.CreateTrainingJobInput) ([]byte, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("sagemaker: encode request: %w", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("sagemaker: encode request: %w", err)
	}
	return json.MarshalIndent(prune(v, ""), "", "  ")
}

func prune(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil || (e == "" && key != "HyperParameters") {
				delete(x, k)
				continue
			}
			x[k] = prune(e, k)
		}
	case []any:
		for i, e := range x {
			x[i] = prune(e, "")
		}
	}
	return v
}
