package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/natssl/natssl/sagemaker/mototest"
)

// launchSets is a config that natssl launch accepts.
var launchSets = []string{
	"--set", "sagemaker.image=123456789012.dkr.ecr.us-east-1.amazonaws.com/natssl:1",
	"--set", "sagemaker.role_arn=arn:aws:iam::123456789012:role/natssl",
	"--set", "sagemaker.output_s3=s3://bkt/out",
	"--set", "data.source=s3://bkt/fmnist/train",
	"--set", "train.lr=0.5",
}

func runNatssl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestLaunchDryRun(t *testing.T) {
	code, out, errOut := runNatssl(t, append([]string{"launch", "--dry-run", "--job-name", "dry-1"}, launchSets...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var req struct {
		TrainingJobName string
		HyperParameters map[string]string
		InputDataConfig []struct{ ChannelName string }
	}
	if err := json.Unmarshal([]byte(out), &req); err != nil {
		t.Fatalf("--dry-run did not print JSON: %v\n%s", err, out)
	}
	if req.TrainingJobName != "dry-1" || req.HyperParameters["train.lr"] != "0.5" || len(req.InputDataConfig) != 1 {
		t.Errorf("request %+v", req)
	}
	if !strings.Contains(errOut, "warning: eval.newt_csv") {
		t.Errorf("no warning about the local eval suite on stderr: %q", errOut)
	}
}

func TestLaunchRefusals(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{name: "default config cannot run on SageMaker", args: []string{"launch", "--dry-run"}, code: 2, err: "sagemaker.image is empty"},
		{name: "bad job name", args: append([]string{"launch", "--dry-run", "--job-name", "a_b"}, launchSets...), code: 2, err: `job name "a_b"`},
		{name: "bad poll", args: []string{"launch", "--poll", "0s"}, code: 2, err: "--poll 0s"},
		{name: "arguments", args: []string{"launch", "extra"}, code: 2, err: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runNatssl(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.err) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, tt.code, tt.err)
			}
		})
	}
}

func TestLaunchOnMoto(t *testing.T) {
	mototest.SetEnv(t)
	endpoint := mototest.Start(t)
	code, out, errOut := runNatssl(t, append([]string{"launch", "--job-name", "cli-1", "--wait", "--poll", "10ms",
		"--set", "sagemaker.endpoint=" + endpoint}, launchSets...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := regexp.MustCompile(`(?s)^job: cli-1\narn: arn:aws:sagemaker:us-east-1:\d+:training-job/cli-1\n.*Completed.*\nmodel: s3://bkt/out/cli-1/output/model.tar.gz\n$`)
	if !want.MatchString(out) {
		t.Errorf("stdout:\n%s\nwant it to match %s", out, want)
	}
	cmd := exec.Command("aws", "sagemaker", "describe-training-job", "--training-job-name", "cli-1", "--endpoint-url", endpoint, "--output", "json")
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws sagemaker describe-training-job: %v", err)
	}
	var d struct {
		TrainingJobStatus string
		HyperParameters   map[string]string
		CheckpointConfig  struct{ S3Uri string }
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.HyperParameters["train.lr"] != "0.5" || d.HyperParameters["data.source"] != "s3://bkt/fmnist/train" || d.CheckpointConfig.S3Uri != "s3://bkt/out/cli-1/checkpoints" {
		t.Errorf("aws CLI shows %+v", d)
	}
}
