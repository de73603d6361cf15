package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/natssl/natssl/internal/pipeline"
)

func newExportCmd(e *env) *cobra.Command {
	return leaf("export (--run RUN | --checkpoint PATH) --format onnx|safetensors [--out FILE] [--with-head] [--image-size S]",
		"Write a trained encoder for other runtimes: ONNX, or safetensors under torchvision's names",
		`Writes the encoder of a checkpoint (--checkpoint) or of a run's latest checkpoint (--run: the
newest file that verifies; a torn one is skipped) as

  onnx         the inference graph, opset 13: input "images" float32 NCHW (batch, 3, S, S),
               RGB prepared as natssl's evaluation view (shorter side resized to S, centre crop,
               scaled to [0, 1], normalised with the ImageNet mean and std), output "features";
               the metadata record the natssl version, run, step, config hash and normalisation.
  safetensors  the tensors under torchvision's names (resnet18, resnet50: load_state_dict
               takes them), batch-norm running statistics included.

--with-head adds the projection head (ONNX: a second output, "projection"). --image-size sets S
(default: the run's eval.image_size, else data.image_size). The file is written atomically:
a failed export leaves --out as it was. Without --out it goes to exports/ beside the run's
checkpoints folder (<run.out_dir>/<run id>/exports/step-N.onnx). The export is recorded with its
run in the tracker (natssl runs show lists it), when the tracker knows the run.
`+runRefHelp,
		(*exportOptions).flags, func(cmd *cobra.Command, o *exportOptions) error {
			cfg, err := e.loadConfig()
			if err != nil {
				return err
			}
			o.DB, o.Version = e.Global.DB, version
			res, err := pipeline.Export(cmd.Context(), cfg, o.ExportOptions, newConsole(e.Stderr))
			if err != nil {
				return err
			}
			return printExport(e, res, o.JSON)
		})
}

// exportOptions are the flags of `natssl export`.
type exportOptions struct {
	pipeline.ExportOptions
	JSON bool
}

func (o *exportOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.Run, "run", "", "export the latest checkpoint of this run (id, prefix, name, NAME@K or latest)")
	f.StringVar(&o.Checkpoint, "checkpoint", "", "checkpoint file to export")
	f.StringVar(&o.Format, "format", "", "onnx or safetensors (default: the one --out's extension names)")
	f.StringVar(&o.Out, "out", "", "file to write (default: <run.out_dir>/<run id>/exports/step-N.<format>)")
	f.BoolVar(&o.WithHead, "with-head", false, "include the projection head")
	f.IntVar(&o.ImageSize, "image-size", 0, "input side in pixels (default: the run's eval.image_size)")
	f.BoolVar(&o.JSON, "json", false, "print the export as one JSON object on the last line")
}

// exportJSON is the line natssl export --json prints.
type exportJSON struct {
	Path             string  `json:"path"`
	Format           string  `json:"format"`
	SHA256           string  `json:"sha256"`
	Bytes            int64   `json:"bytes"`
	Checkpoint       string  `json:"checkpoint"`
	CheckpointStep   int64   `json:"checkpoint_step"`
	CheckpointSHA256 string  `json:"checkpoint_sha256"`
	RunID            string  `json:"run_id"`
	RunName          string  `json:"run_name"`
	ConfigHash       string  `json:"config_hash"`
	Backbone         string  `json:"backbone"`
	ImageSize        int     `json:"image_size"`
	WithHead         bool    `json:"with_head"`
	FeaturesDim      int     `json:"features_dim"`
	ProjectionDim    int     `json:"projection_dim"`
	Params           int64   `json:"params"`
	MACs             int64   `json:"macs"`
	MFLOPs           float64 `json:"mflops"`
	Recorded         bool    `json:"recorded"`
}

// printExport says what was written, from what, and where it was recorded; with asJSON, one
// JSON line after.
func printExport(e *env, res *pipeline.ExportResult, asJSON bool) error {
	r := res.Result
	run := r.RunID
	if res.RunName != "" {
		run = res.RunName + " (" + r.RunID + ")"
	}
	head := ""
	if r.ProjDim > 0 {
		head = fmt.Sprintf(", projection %d", r.ProjDim)
	}
	fmt.Fprintf(e.Stdout, "wrote %s: %s, %d bytes, sha256 %s\n", r.Path, r.Format, r.Bytes, r.SHA256)
	fmt.Fprintf(e.Stdout, "  from step %d of run %s: %s\n", r.Step, run, r.Checkpoint)
	fmt.Fprintf(e.Stdout, "  %s at %d px: features %d%s; %d parameters, %.1f MFLOPs per image\n",
		r.Backbone, r.ImageSize, r.Dim, head, r.Cost.Params, r.Cost.MFLOPs)
	if res.Recorded {
		fmt.Fprintln(e.Stdout, "  recorded with the run in the tracker")
	}
	if !asJSON {
		return nil
	}
	return printJSONLine(e.Stdout, exportJSON{Path: r.Path, Format: string(r.Format), SHA256: r.SHA256, Bytes: r.Bytes,
		Checkpoint: r.Checkpoint, CheckpointStep: r.Step, CheckpointSHA256: r.CheckpointSHA256, RunID: r.RunID,
		RunName: res.RunName, ConfigHash: r.ConfigHash, Backbone: r.Backbone, ImageSize: r.ImageSize,
		WithHead: r.ProjDim > 0, FeaturesDim: r.Dim, ProjectionDim: r.ProjDim, Params: r.Cost.Params,
		MACs: r.Cost.MACs, MFLOPs: r.Cost.MFLOPs, Recorded: res.Recorded})
}
