package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// API is the part of the SageMaker API that launch uses; *sagemaker.Client implements it.
type API interface {
	CreateTrainingJob(ctx context.Context, in *sm.CreateTrainingJobInput, opts ...func(*sm.Options)) (*sm.CreateTrainingJobOutput, error)
	DescribeTrainingJob(ctx context.Context, in *sm.DescribeTrainingJobInput, opts ...func(*sm.Options)) (*sm.DescribeTrainingJobOutput, error)
}

var _ API = (*sm.Client)(nil)

// ClientOptions say how to reach SageMaker. Credentials come from the usual AWS chain
// (environment, shared config and credentials files, instance role).
type ClientOptions struct {
	// Region is used when the AWS chain (AWS_REGION, the profile) names none; natssl passes
	// data.s3.region, the region its data lives in.
	Region   string
	Endpoint string // "" for SageMaker's own endpoint; an http:// URL for a local one such as moto
}

// NewClient returns a SageMaker API client.
func NewClient(ctx context.Context, o ClientOptions) (*sm.Client, error) {
	ac, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("sagemaker: load AWS config: %w", err)
	}
	if ac.Region == "" {
		ac.Region = o.Region
	}
	if ac.Region == "" {
		return nil, errors.New("sagemaker: no AWS region: set AWS_REGION or data.s3.region")
	}
	return sm.NewFromConfig(ac, func(so *sm.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}

// Create creates the training job and returns its ARN.
func Create(ctx context.Context, api API, in *sm.CreateTrainingJobInput) (string, error) {
	out, err := api.CreateTrainingJob(ctx, in)
	if err != nil {
		return "", fmt.Errorf("sagemaker: create training job %s: %w", aws.ToString(in.TrainingJobName), err)
	}
	return aws.ToString(out.TrainingJobArn), nil
}

// Ended reports whether a training job's status is final.
func Ended(s types.TrainingJobStatus) bool {
	switch s {
	case types.TrainingJobStatusCompleted, types.TrainingJobStatusFailed, types.TrainingJobStatusStopped:
		return true
	}
	return false
}

// Wait polls the job every poll until it has ended, calling progress (which may be nil) each
// time its status or secondary status changes. It returns the last description; a job that
// ended Failed or Stopped is an error carrying SageMaker's FailureReason.
func Wait(ctx context.Context, api API, name string, poll time.Duration, progress func(*sm.DescribeTrainingJobOutput)) (*sm.DescribeTrainingJobOutput, error) {
	var last string
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		d, err := api.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String(name)})
		if err != nil {
			return nil, fmt.Errorf("sagemaker: describe training job %s: %w", name, err)
		}
		if cur := string(d.TrainingJobStatus) + "/" + string(d.SecondaryStatus); cur != last && progress != nil {
			progress(d)
			last = cur
		}
		if Ended(d.TrainingJobStatus) {
			switch d.TrainingJobStatus {
			case types.TrainingJobStatusFailed:
				return d, fmt.Errorf("sagemaker: training job %s failed: %s", name, aws.ToString(d.FailureReason))
			case types.TrainingJobStatusStopped:
				return d, fmt.Errorf("sagemaker: training job %s was stopped", name)
			}
			return d, nil
		}
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("sagemaker: stopped following training job %s, which goes on running (aws sagemaker stop-training-job stops it): %w", name, ctx.Err())
		case <-t.C:
		}
	}
}
