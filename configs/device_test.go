package configs

import (
	"strings"
	"testing"
)

func TestParseDevice(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Device
		err  string
	}{
		{"cpu", CPU, ""},
		{"cuda:0", Device{CUDA: true}, ""},
		{"cuda:7", Device{CUDA: true, Index: 7}, ""},
		{"cuda:12", Device{CUDA: true, Index: 12}, ""},
		{"gpu", Device{}, "want cpu or cuda:N"},
		{"CPU", Device{}, "want cpu or cuda:N"},
		{"cuda", Device{}, "want cpu or cuda:N"},
		{"cuda:", Device{}, "a GPU's index"},
		{"cuda:-1", Device{}, "a GPU's index"},
		{"cuda:+1", Device{}, "a GPU's index"},
		{"cuda:01", Device{}, "a GPU's index"},
		{"cuda:1 ", Device{}, "a GPU's index"},
		{"cuda:x", Device{}, "a GPU's index"},
		{"cuda:99999999999999999999", Device{}, "a GPU's index"},
		{"cuda:70000", Device{}, "no machine has 70001 GPUs"},
	} {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseDevice(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, %v; want an error containing %q", got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
			if got.String() != c.in {
				t.Errorf("String() = %q, want %q", got.String(), c.in)
			}
		})
	}
}

// FuzzParseDevice: every accepted name prints back as itself, and nothing panics.
func FuzzParseDevice(f *testing.F) {
	for _, s := range []string{"cpu", "cuda:0", "cuda:15", "cuda:01", "cuda:-3", "auto", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDevice(s)
		if err == nil && d.String() != s {
			t.Fatalf("ParseDevice(%q) = %v, which prints as %q", s, d, d.String())
		}
	})
}

func TestUsesCUDA(t *testing.T) {
	for _, c := range []struct {
		devices []string
		want    bool
	}{
		{[]string{"cpu", "cpu"}, false},
		{[]string{"cuda:0"}, true},
		{[]string{"cpu", "cuda:1"}, true},
		{nil, false},
	} {
		tr := Train{Devices: c.devices}
		if got := tr.UsesCUDA(); got != c.want {
			t.Errorf("%v: UsesCUDA() = %v, want %v", c.devices, got, c.want)
		}
	}
}
