package pipeline

import (
	"reflect"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/export"
	"github.com/natssl/natssl/report"
)

// TestEncoderCost: a run's cost comes from the model and image keys its params record, at
// its eval size; runs whose params do not name their encoder have none.
func TestEncoderCost(t *testing.T) {
	params := func(sets ...string) []configs.KeyValue {
		cfg := configs.Default()
		for _, s := range sets {
			k, v, _ := strings.Cut(s, "=")
			if err := cfg.Set(k, v, "test"); err != nil {
				t.Fatal(err)
			}
		}
		return cfg.Flatten()
	}
	cost := func(m configs.Model, size int) *report.Cost {
		c, err := export.EncoderCost(m, size)
		if err != nil {
			t.Fatal(err)
		}
		return &report.Cost{ImageSize: size, Params: c.Params, MFLOPs: c.MFLOPs}
	}
	r50 := configs.Model{Backbone: "resnet50", Width: 64, ProjHidden: 256, ProjDim: 128}
	for _, tc := range []struct {
		name string
		rec  experiments.RunRecord
		want *report.Cost
		err  string
	}{
		{"eval size", experiments.RunRecord{Params: params("model.backbone=resnet50", "model.width=64", "eval.image_size=224", "data.image_size=96")},
			cost(r50, 224), ""},
		{"data size when eval's is 0", experiments.RunRecord{Params: params("model.backbone=resnet50", "model.width=64", "eval.image_size=0", "data.image_size=96")},
			cost(r50, 96), ""},
		{"random init", experiments.RunRecord{Params: params("model.width=8"), Tags: map[string]string{"kind": "random-init"}},
			cost(configs.Model{Backbone: "convnet-small", Width: 8, ProjHidden: 256, ProjDim: 128}, 32), ""},
		{"features file", experiments.RunRecord{Params: params(), Tags: map[string]string{"kind": "features"}}, nil, ""},
		{"checkpoint trained elsewhere", experiments.RunRecord{Params: params(), Tags: map[string]string{"kind": "checkpoint"}}, nil, ""},
		{"no params", experiments.RunRecord{}, nil, ""},
		{"unknown backbone", experiments.RunRecord{Params: []configs.KeyValue{{Key: "model.backbone", Value: "vit-b"}, {Key: "model.width", Value: "8"}}},
			nil, `unknown backbone "vit-b"`},
		{"bad width", experiments.RunRecord{Params: []configs.KeyValue{{Key: "model.backbone", Value: "resnet18"}, {Key: "model.width", Value: "wide"}}},
			nil, "model.width"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encoderCost(&tc.rec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("cost %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
