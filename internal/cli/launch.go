package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/spf13/cobra"

	"github.com/natssl/natssl/sagemaker"
)

// launchOptions are the flags of `natssl launch`.
type launchOptions struct {
	DryRun  bool
	Wait    bool
	JobName string
	Poll    time.Duration
}

func newLaunchCmd(e *env) *cobra.Command {
	o := &launchOptions{}
	cmd := &cobra.Command{
		Use:   "launch [--dry-run] [--wait] [--job-name NAME]",
		Short: "Create a SageMaker training job that runs this config (sagemaker section)",
		Long: `launch creates an Amazon SageMaker training job from the config's sagemaker section: the
image, role, instances (spot when sagemaker.use_spot), checkpoints synced to sagemaker.checkpoint_s3,
the train channel from data.source and the newt channel from eval.newt_csv/eval.images when they
are s3:// URLs, and the config itself as hyperparameters with dotted keys ("train.lr": "0.3").
AWS credentials and region come from the usual AWS chain; sagemaker.endpoint overrides the API
endpoint. See docs/sagemaker.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.runLaunch(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.DryRun, "dry-run", false, "print the CreateTrainingJob request as JSON and create nothing")
	f.BoolVar(&o.Wait, "wait", false, "follow the job's status until it ends; exit 1 unless it completes")
	f.StringVar(&o.JobName, "job-name", "", "training job name (default: run.name and the UTC time)")
	f.DurationVar(&o.Poll, "poll", 30*time.Second, "with --wait, how often to ask for the job's status")
	return cmd
}

func (e *env) runLaunch(ctx context.Context, o *launchOptions) error {
	if o.Poll <= 0 {
		return usageErr(fmt.Errorf("launch: --poll %s: want a positive duration", o.Poll))
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	name := o.JobName
	if name == "" {
		name = sagemaker.JobName(cfg.Run.Name, time.Now())
	}
	in, warnings, err := sagemaker.Request(cfg, name)
	if err != nil {
		return usageErr(err) // the config or the flags are wrong: nothing was sent
	}
	for _, w := range warnings {
		fmt.Fprintln(e.Stderr, "natssl: launch: warning:", w)
	}
	if o.DryRun {
		out, err := sagemaker.RequestJSON(in)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.Stdout, "%s\n", out)
		return err
	}
	client, err := sagemaker.NewClient(ctx, sagemaker.ClientOptions{Region: cfg.Data.S3.Region, Endpoint: cfg.SageMaker.Endpoint})
	if err != nil {
		return err
	}
	arn, err := sagemaker.Create(ctx, client, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "job: %s\narn: %s\n", name, arn)
	if !o.Wait {
		return nil
	}
	d, err := sagemaker.Wait(ctx, client, name, o.Poll, func(d *sm.DescribeTrainingJobOutput) {
		fmt.Fprintf(e.Stdout, "%s  %s  %s\n", time.Now().UTC().Format(time.RFC3339), d.TrainingJobStatus, d.SecondaryStatus)
	})
	if err != nil {
		return err
	}
	if d.ModelArtifacts != nil {
		fmt.Fprintf(e.Stdout, "model: %s\n", aws.ToString(d.ModelArtifacts.S3ModelArtifacts))
	}
	return nil
}
