package sagemaker

import (
	"context"
	"encoding/json"
	"maps"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/natssl/natssl/sagemaker/mototest"
)

// describeCLI reads a training job back through the aws CLI, as a user would.
func describeCLI(t *testing.T, endpoint, name string) map[string]any {
	t.Helper()
	cmd := exec.Command("aws", "sagemaker", "describe-training-job", "--training-job-name", name,
		"--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("aws sagemaker describe-training-job: %v\n%s", err, stderr)
	}
	var d map[string]any
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatalf("aws CLI output: %v\n%s", err, out)
	}
	return d
}

func TestCreateOnMoto(t *testing.T) {
	mototest.SetEnv(t)
	endpoint := mototest.Start(t)
	ctx := context.Background()

	cfg := load(t, append(launchable, "train.lr=0.5", "model.backbone=resnet18", "data.image_size=224")...)
	in, _, err := Request(cfg, "natssl-moto-1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewClient(ctx, ClientOptions{Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	arn, err := Create(ctx, client, in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(arn, ":training-job/natssl-moto-1") {
		t.Errorf("ARN %q does not name the job", arn)
	}

	// Through the SDK.
	d, err := Wait(ctx, client, "natssl-moto-1", 10*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(d.HyperParameters, in.HyperParameters) {
		t.Errorf("hyperparameters read back differ:\n%v\nwant\n%v", d.HyperParameters, in.HyperParameters)
	}
	if got := aws.ToString(d.CheckpointConfig.S3Uri); got != "s3://bkt/out/natssl-moto-1/checkpoints" {
		t.Errorf("checkpoint URI %q", got)
	}
	if !aws.ToBool(d.EnableManagedSpotTraining) || aws.ToInt32(d.StoppingCondition.MaxWaitTimeInSeconds) < aws.ToInt32(d.StoppingCondition.MaxRuntimeInSeconds) {
		t.Errorf("spot %v, wait %d < run %d", aws.ToBool(d.EnableManagedSpotTraining), aws.ToInt32(d.StoppingCondition.MaxWaitTimeInSeconds), aws.ToInt32(d.StoppingCondition.MaxRuntimeInSeconds))
	}

	// Through the aws CLI: the job as natssl created it.
	c := describeCLI(t, endpoint, "natssl-moto-1")
	hp := c["HyperParameters"].(map[string]any)
	for _, k := range []string{"train.lr", "model.backbone", "data.image_size", "data.source"} {
		if hp[k] != in.HyperParameters[k] {
			t.Errorf("aws CLI: %s = %v, want %q", k, hp[k], in.HyperParameters[k])
		}
	}
	if len(hp) != len(in.HyperParameters) {
		t.Errorf("aws CLI: %d hyperparameters, want %d", len(hp), len(in.HyperParameters))
	}
	checks := map[string]string{
		"RoleArn":                               c["RoleArn"].(string),
		"AlgorithmSpecification.TrainingImage":  c["AlgorithmSpecification"].(map[string]any)["TrainingImage"].(string),
		"OutputDataConfig.S3OutputPath":         c["OutputDataConfig"].(map[string]any)["S3OutputPath"].(string),
		"CheckpointConfig.LocalPath":            c["CheckpointConfig"].(map[string]any)["LocalPath"].(string),
		"InputDataConfig[0].ChannelName":        c["InputDataConfig"].([]any)[0].(map[string]any)["ChannelName"].(string),
		"InputDataConfig[1].S3DataSource.S3Uri": c["InputDataConfig"].([]any)[1].(map[string]any)["DataSource"].(map[string]any)["S3DataSource"].(map[string]any)["S3Uri"].(string),
		"ResourceConfig.InstanceType":           c["ResourceConfig"].(map[string]any)["InstanceType"].(string),
	}
	want := map[string]string{
		"RoleArn":                               cfg.SageMaker.RoleARN,
		"AlgorithmSpecification.TrainingImage":  cfg.SageMaker.Image,
		"OutputDataConfig.S3OutputPath":         "s3://bkt/out",
		"CheckpointConfig.LocalPath":            "/opt/ml/checkpoints",
		"InputDataConfig[0].ChannelName":        "train",
		"InputDataConfig[1].S3DataSource.S3Uri": "s3://bkt/newt/",
		"ResourceConfig.InstanceType":           "ml.g5.2xlarge",
	}
	for k, w := range want {
		if checks[k] != w {
			t.Errorf("aws CLI: %s = %q, want %q", k, checks[k], w)
		}
	}

	// An unknown job cannot be waited for.
	if _, err := Wait(ctx, client, "no-such-job", time.Millisecond, nil); err == nil || !strings.Contains(err.Error(), "describe training job no-such-job") {
		t.Errorf("unknown job: err = %v", err)
	}
}

// sequence is a SageMaker API whose DescribeTrainingJob walks through given statuses; it
// stands in for a job's life, which moto ends at once.
type sequence struct {
	API
	statuses []types.TrainingJobStatus
	reason   string
	calls    int
}

func (s *sequence) DescribeTrainingJob(ctx context.Context, in *sm.DescribeTrainingJobInput, _ ...func(*sm.Options)) (*sm.DescribeTrainingJobOutput, error) {
	st := s.statuses[min(s.calls, len(s.statuses)-1)]
	s.calls++
	return &sm.DescribeTrainingJobOutput{TrainingJobName: in.TrainingJobName, TrainingJobStatus: st, SecondaryStatus: types.SecondaryStatus(st), FailureReason: aws.String(s.reason)}, nil
}

func TestWaitFollowsTheStatus(t *testing.T) {
	tests := []struct {
		name     string
		statuses []types.TrainingJobStatus
		err      string
		seen     int
	}{
		{name: "completes", statuses: []types.TrainingJobStatus{"InProgress", "InProgress", "Completed"}, seen: 2},
		{name: "fails with the reason", statuses: []types.TrainingJobStatus{"InProgress", "Failed"}, err: "training job j failed: config: train.lr", seen: 2},
		{name: "stopped", statuses: []types.TrainingJobStatus{"Stopping", "Stopped"}, err: "training job j was stopped", seen: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &sequence{statuses: tt.statuses, reason: "config: train.lr = \"x\": want a number"}
			seen := 0
			_, err := Wait(context.Background(), api, "j", time.Millisecond, func(*sm.DescribeTrainingJobOutput) { seen++ })
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			if seen != tt.seen || api.calls != len(tt.statuses) {
				t.Errorf("progress called %d times over %d polls, want %d over %d", seen, api.calls, tt.seen, len(tt.statuses))
			}
		})
	}
}

func TestWaitCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := Wait(ctx, &sequence{statuses: []types.TrainingJobStatus{"InProgress"}}, "j", time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Fatalf("err = %v", err)
	}
}
