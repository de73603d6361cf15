package export

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natssl/natssl/configs"
)

// TestExportMethods: a run of any method exports its online encoder (never the target
// network nor BYOL's predictor); the head goes with it where the projector has SimCLR's
// shape (BYOL) and is refused, naming the method, where it does not.
func TestExportMethods(t *testing.T) {
	model := configs.Model{Backbone: "convnet-small", Width: 4, ProjHidden: 16, ProjDim: 8}
	for _, tc := range []struct {
		method string
		head   bool // --with-head is written
	}{{"byol", true}, {"moco", false}, {"vicreg", false}, {"barlow", false}} {
		t.Run(tc.method, func(t *testing.T) {
			f := fixture{name: "convnet-small-" + tc.method, model: model, trainSize: 8, evalSize: 8, optimizer: "adamw", steps: 2, method: tc.method}
			ckpt, c := f.checkpoint(t), f.read(t)
			var enc, head int64
			for name, v := range c.Tensors {
				switch {
				case strings.HasPrefix(name, "param/enc."):
					enc += int64(len(v))
				case strings.HasPrefix(name, "param/head."):
					head += int64(len(v))
				}
			}
			dir := t.TempDir()
			res, err := Export(context.Background(), ckpt, Options{Format: ONNX}, filepath.Join(dir, "enc.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Cost.Params != enc {
				t.Errorf("encoder export: %d params, the online encoder has %d", res.Cost.Params, enc)
			}
			res, err = Export(context.Background(), ckpt, Options{Format: SafeTensors, WithHead: true}, filepath.Join(dir, "head.safetensors"))
			switch {
			case tc.head && err != nil:
				t.Fatal(err)
			case tc.head && res.Cost.Params != enc+head:
				t.Errorf("export with the head: %d params, want the encoder's and projector's %d", res.Cost.Params, enc+head)
			case !tc.head && (err == nil || !strings.Contains(err.Error(), "method "+tc.method+" has another projector")):
				t.Errorf("--with-head of a %s run: %v, want a refusal naming the method", tc.method, err)
			}
		})
	}
}
