package sweep

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseParam(t *testing.T) {
	tests := []struct {
		in     string
		keys   []string
		values [][]string
		rng    *Range
	}{
		{"train.temperature=0.1,0.2,0.5", []string{"train.temperature"}, [][]string{{"0.1"}, {"0.2"}, {"0.5"}}, nil},
		{"model.width= 32 , 64", []string{"model.width"}, [][]string{{"32"}, {"64"}}, nil},
		{"augment.crop_scale=[0.08, 1],[0.2,1]", []string{"augment.crop_scale"}, [][]string{{"[0.08, 1]"}, {"[0.2,1]"}}, nil},
		{"train.devices=[cpu,cpu],[cpu]", []string{"train.devices"}, [][]string{{"[cpu,cpu]"}, {"[cpu]"}}, nil},
		{"data.batch_size+train.steps=128/900,256/450", []string{"data.batch_size", "train.steps"}, [][]string{{"128", "900"}, {"256", "450"}}, nil},
		{"augment.jitter.brightness+augment.jitter.contrast=0.2,0.4", []string{"augment.jitter.brightness", "augment.jitter.contrast"},
			[][]string{{"0.2", "0.2"}, {"0.4", "0.4"}}, nil},
		{"train.lr=log:0.0003..0.01", []string{"train.lr"}, nil, &Range{Log: true, Lo: 0.0003, Hi: 0.01}},
		{"train.temperature=0.05..0.5", []string{"train.temperature"}, nil, &Range{Lo: 0.05, Hi: 0.5}},
		{"run.out_dir=/tmp/a/b", []string{"run.out_dir"}, [][]string{{"/tmp/a/b"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := ParseParam(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Keys, tt.keys) || !reflect.DeepEqual(p.Values, tt.values) || !reflect.DeepEqual(p.Range, tt.rng) {
				t.Errorf("got keys %q values %q range %+v; want %q %q %+v", p.Keys, p.Values, p.Range, tt.keys, tt.values, tt.rng)
			}
		})
	}
}

func TestParseParamRefuses(t *testing.T) {
	tests := []struct{ in, want string }{
		{"train.lr", "want key=value"},
		{"=0.1", "want key=value"},
		{"train.lr=", "an empty value"},
		{"train.lr=0.1,,0.2", "an empty value"},
		{"train.lr=0.1,0.1", "listed twice"},
		{"a+a=1", "appears twice"},
		{"a++b=1", "an empty key"},
		{"a+b=1/2/3", "3 parts for 2 tied keys"},
		{"augment.crop_scale=[0.2,1", "unbalanced"},
		{"augment.crop_scale=0.2,1]", "unbalanced"},
		{"train.lr=log:0..1", "LO > 0"},
		{"train.lr=0.5..0.1", "LO < HI"},
		{"train.lr=a..b", "two numbers"},
		{"train.lr=log:0.1", "log:LO..HI"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseParam(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "--param "+tt.in) {
				t.Errorf("error %v, want one naming --param %s and saying %q", err, tt.in, tt.want)
			}
		})
	}
}

// TestParseParams: the syntax errors of every --param are reported at once, one line each, as
// a usage error.
func TestParseParams(t *testing.T) {
	ps, err := ParseParams([]string{"train.lr=0.1,0.2", "model.width=8"})
	if err != nil || len(ps) != 2 || ps[1].Keys[0] != "model.width" {
		t.Fatalf("good params: %+v, %v", ps, err)
	}
	_, err = ParseParams([]string{"train.lr", "model.width=8", "a+a=1"})
	var ue *UsageError
	if !errors.As(err, &ue) || ue.Msg != "sweep: --param train.lr: want key=value,value,... (such as train.lr=0.1,0.3)\nsweep: --param a+a=1: key a appears twice" {
		t.Errorf("error %v, want both bad params named, as a usage error", err)
	}
}

func TestRangeDraw(t *testing.T) {
	log := &Range{Log: true, Lo: 0.001, Hi: 1}
	if got := log.draw(0.5, kindFloat); got != "0.0316" {
		t.Errorf("log range midpoint = %s, want 0.0316 (the geometric mean, 3 digits)", got)
	}
	if got := log.draw(0, kindFloat); got != "0.001" {
		t.Errorf("log range start = %s", got)
	}
	ints := &Range{Lo: 15.5, Hi: 64.4}
	for _, u := range []float64{0, 0.3, 0.999999} {
		v, err := strconv.Atoi(ints.draw(u, kindInt))
		if err != nil || v < 16 || v > 64 {
			t.Errorf("int draw at %v = %v (%v), want an integer in [16, 64]", u, v, err)
		}
	}
}

func FuzzParseParam(f *testing.F) {
	for _, s := range []string{"train.lr=0.1,0.2", "a+b=1/2,3", "augment.crop_scale=[0.08,1],[0.2,1]", "train.lr=log:1e-4..1e-2", "x=0..1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseParam(s)
		if err != nil {
			return
		}
		if len(p.Keys) == 0 || (p.Range == nil) == (len(p.Values) == 0) {
			t.Fatalf("%q: keys %q, values %q, range %v", s, p.Keys, p.Values, p.Range)
		}
		for _, v := range p.Values {
			if len(v) != len(p.Keys) {
				t.Fatalf("%q: value %q for %d keys", s, v, len(p.Keys))
			}
		}
		if r := p.Range; r != nil && !(r.Lo < r.Hi) {
			t.Fatalf("%q: range %+v", s, r)
		}
	})
}
