// Package export writes the encoder of a natssl checkpoint in formats other runtimes read:
// ONNX, for phones and inference engines, and safetensors under torchvision's names, for
// PyTorch. Export reads the checkpoint (ExportCheckpoint takes one already read), writes one
// file atomically (a temporary file beside the output, fsynced and renamed: never a
// half-written file) and returns its path, format, SHA-256, size, the checkpoint it came
// from, and the model's Cost (parameters, MACs and MFLOPs per image at the export's image
// size); EncoderCost gives the same figures for a backbone without exporting it. Finding a run's checkpoint, recording exports in the
// tracker and showing them are left to the packages that own runs and reports.
//
// The exported model computes what natssl computes (trainer.Encoder in evaluation mode):
// the layers mirror trainer's model.go, batch norm uses the running statistics with ε 1e-5,
// and the tests hold the files to natssl's own features on real images, run by gonnx,
// by PyTorch's kernels and by torchvision's modules. For BYOL and MoCo runs the encoder is the
// online network, as everywhere in natssl (the target network stays in the checkpoint); the
// head is written for SimCLR and BYOL, whose projectors share its shape, and refused for the
// methods whose projectors do not.
//
// # ONNX
//
// Opset 13, IR version 7. One input, "images": float32, NCHW, shape (batch, 3, S, S) with S
// the export's image size (Options.ImageSize; by default the run's eval.image_size, else
// data.image_size), holding RGB images prepared as natssl's evaluation view
// (augment.Worker.EvalView): the shorter side resized to S with antialiasing, a centre crop
// of S×S, values scaled to [0, 1], then (x − mean)/std per channel with the ImageNet
// statistics mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). One output,
// "features": the pooled backbone output, (batch, D). With Options.WithHead, a second
// output, "projection": the projection head's output, (batch, proj_dim).
//
// The graph uses Conv (each batch norm folded into the conv before it: weight·γ/√(var+ε),
// bias β − mean·γ/√(var+ε)), Relu, MaxPool (3×3, stride 2, padding 1), Add,
// GlobalAveragePool and Flatten, and for the head Gemm (its batch norm folded in the same
// way). Initializers carry torchvision's module names (layer1.0.conv1.weight, ...). The
// metadata properties record natssl_version, run_id, config_hash, step, checkpoint_sha256,
// backbone, width, image_size, input, input_layout, normalization_mean and
// normalization_std (JSON lists), features_dim, with_head (and projection_dim), plus
// Options.Metadata; the doc string restates the input contract.
//
// # safetensors
//
// Float32 tensors in PyTorch's layouts, unfolded: each conv's weight, each batch norm's
// weight (γ), bias (β), running_mean, running_var (natssl's running variance is the
// unbiased one, as PyTorch's) and num_batches_tracked (int64, the checkpoint's step). The
// names:
//
//	resnet18, resnet50: torchvision's, so that torchvision.models.resnet18() (resnet50())
//	    .load_state_dict(state, strict=False) reports only fc.weight and fc.bias missing at
//	    width 64 (natssl has no classifier); at other widths the same names, with every
//	    channel count scaled by width/64.
//	resnet18-cifar: resnet18's names, for resnet18() with
//	    conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False) and maxpool = nn.Identity().
//	convnet-small: conv1..conv4 and bn1..bn4, for the module
//	    conv_i = nn.Conv2d(c_{i-1}, c_i, 3, stride_i, 1, bias=False), bn_i = nn.BatchNorm2d(c_i),
//	    forward: relu(bn_i(conv_i(x))) for i = 1..4, then adaptive_avg_pool2d(x, 1) and
//	    flatten, with c = (3, w, 2w, 4w, 8w) and strides (1, 2, 2, 2).
//	with the head: head.0 (Linear, weight out×in), head.1 (BatchNorm1d), head.3 (Linear),
//	    for nn.Sequential(nn.Linear(D, proj_hidden), nn.BatchNorm1d(proj_hidden), nn.ReLU(),
//	    nn.Linear(proj_hidden, proj_dim)).
//
// The header's __metadata__ holds the ONNX metadata keys and format "pt".
// testdata/torch_check.py loads a file this way with only the format's published layout
// (no safetensors package needed); testdata/onnx_check.py checks and runs an ONNX file.
package export
