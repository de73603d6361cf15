// Package cuda runs natssl's training maths on NVIDIA GPUs without needing CUDA to build:
// the driver API (libcuda.so.1), cuBLAS and NVRTC are opened with dlopen at run time and
// called through the handful of declarations in capi.h (cuDNN, when present, is only
// reported). The same
// binary builds on machines without CUDA headers and runs on machines without a GPU, where
// Load reports why there is none.
//
// Libraries are looked up in NATSSL_CUDA_LIB_DIR, then the dynamic loader's own paths, then
// the nvidia/*/lib folders of Python's site-packages, where pip's CUDA wheels put them
// (lookup.go); Describe says which file each came from, or where it looked.
//
// The API is what a training step needs: devices with their primary contexts, device
// memory with an out-of-memory error that carries the sizes, pinned host buffers, streams,
// asynchronous copies and events, modules and kernel launches, and a cuBLAS handle bound to
// a stream with the TF32 switch. The kernels are CUDA C in kernels/, embedded in the binary,
// compiled by NVRTC (without fused multiply-adds) for each device's architecture on first
// use and cached on disk under the user's cache folder (cache.go). They are the trainer's
// CPU kernels over channels-last activations, operation for operation: the layout of the
// input, a convolution's column matrix and weights around cuBLAS products, batch norm with
// its residual and ReLU, the pools, the linear layers' bias and the optimizers. The op
// functions (ops.go, ops_conv.go, ops_bn.go, ops_optim.go) launch them through Runner: a
// Stream on a GPU, or HostRunner, which compiles the same source for the CPU with the
// system's C++ compiler and a small shim header, and multiplies with gonum, so that the
// trainer can run its CUDA backend, and hold every kernel to its CPU kernel, on machines
// without a GPU.
//
// The binding is cgo rather than a pure-Go dlopen (purego): every driver call must find its
// context current on the thread that makes it, and a goroutine may change threads between
// two calls, so each trampoline in capi.c makes the context current and calls in one C call;
// kernel arguments are laid out in C; and the project builds with cgo already.
//
// The package knows nothing of Gorgonia graphs or of the model: the trainer decides what to
// run where, and holds the constants (batch-norm momentum, optimizer coefficients) it passes
// to the kernels.
package cuda
