package configs

import (
	"strings"
	"testing"
)

// TestCredentialsMasked: the YAML and the flattened params (what is printed and stored) mask
// an endpoint's user:password@; FlattenWithCredentials (what a job is handed) keeps it, and the
// config itself keeps it for use.
func TestCredentialsMasked(t *testing.T) {
	c, err := Load(Sources{Env: []string{}, Sets: []string{"data.s3.endpoint=http://KEY:SECRET@minio:9000", "sagemaker.endpoint=https://u:SECRET2@sm.local"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Data.S3.Endpoint != "http://KEY:SECRET@minio:9000" {
		t.Errorf("the config lost the credentials it must use: %q", c.Data.S3.Endpoint)
	}
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), "SECRET") || !strings.Contains(string(y), "endpoint: http://xxxxx@minio:9000") {
		t.Errorf("YAML does not mask the credentials:\n%s", y)
	}
	flat := map[string]string{}
	for _, kv := range c.Flatten() {
		flat[kv.Key] = kv.Value
	}
	if flat["data.s3.endpoint"] != "http://xxxxx@minio:9000" || flat["sagemaker.endpoint"] != "https://xxxxx@sm.local" {
		t.Errorf("Flatten: %q, %q", flat["data.s3.endpoint"], flat["sagemaker.endpoint"])
	}
	for _, kv := range c.FlattenWithCredentials() {
		if kv.Key == "data.s3.endpoint" && kv.Value != c.Data.S3.Endpoint {
			t.Errorf("FlattenWithCredentials: %q", kv.Value)
		}
	}
	_, err = Load(Sources{Env: []string{}, Sets: []string{"data.s3.anonymous=http://KEY:SECRET@minio"}})
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("an error about a value shows its credentials: %v", err)
	}
}
