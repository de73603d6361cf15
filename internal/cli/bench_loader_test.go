package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestBenchLoaderJSONKeys(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"bench", "loader", "--source", "../../configs/smoke/train", "--size", "16",
		"--seconds", "0.2", "--workers", "2", "--batch", "8", "--repeat", "2", "--samples", "300", "--json"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"cores", "decode_images_per_s", "decode_images_per_s_per_core", "images", "images_per_s", "images_per_s_per_core", "peak_rss_at_10k_bytes", "peak_rss_at_end_bytes", "peak_rss_bytes", "samples", "size", "skipped"}
	if !slices.Equal(keys, want) {
		t.Errorf("JSON keys %v, want %v", keys, want)
	}
	if got["size"] != 16.0 || got["cores"] != 2.0 || got["skipped"] != 0.0 || got["samples"].(float64) < 300 {
		t.Errorf("JSON %v", got)
	}
	for _, k := range []string{"images", "images_per_s", "images_per_s_per_core", "decode_images_per_s", "decode_images_per_s_per_core", "peak_rss_bytes"} {
		if got[k].(float64) <= 0 {
			t.Errorf("%s = %v, want > 0", k, got[k])
		}
	}
	if !strings.Contains(out.String(), "decode only (ceiling)") || !strings.Contains(out.String(), "2 × 16 px views per image") {
		t.Errorf("no table, or not of two 16 px views:\n%s", out.String())
	}
}

// With augment.crops the loader draws every group's views, and the table names them.
func TestBenchLoaderMultiCrop(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"bench", "loader", "--source", "../../configs/smoke/train", "--seconds", "0.2",
		"--workers", "1", "--batch", "4", "--set", "data.image_size=16",
		"--set", "augment.crops=[{size: 16, count: 2, scale: [0.3, 1]}, {size: 8, count: 3, scale: [0.1, 0.3]}]"}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "loader benchmark: 2 × 16 px + 3 × 8 px views per image") {
		t.Errorf("table does not name the groups of views:\n%s", out.String())
	}
}

func TestBenchLoaderErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--seconds", "0"}, 2, "--seconds"},
		{[]string{"--batch", "0"}, 2, "--batch"},
		{[]string{"--source", "/nonexistent/photos"}, 1, "does not exist"},
		{[]string{"--source", "../../configs/smoke/train", "--size", "16", "--set", "augment.crops=[{size: 32, count: 2, scale: [0.2, 1]}]"}, 2, "--size 16: augment.crops sets the size"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"bench", "loader"}, c.args...), nil, &out, &errb)
			if code != c.code || !strings.Contains(errb.String(), c.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errb.String(), c.code, c.want)
			}
		})
	}
}
