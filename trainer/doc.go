// Package trainer trains self-supervised encoders with Gorgonia: the encoders (convnet-small,
// resnet18-cifar, resnet18, resnet50) and each method's heads (heads.go), the methods' losses
// over the global batch of all data-parallel replicas (objective.go: SimCLR's NT-Xent in
// ntxent.go, BYOL's, MoCo v2's with its queue in moco.go, VICReg's and Barlow Twins' in
// redundancy.go), BYOL's and MoCo's momentum target network (target.go), multi-crop views (one
// backbone op per crop size over the same parameters), the optimizers (LARS, SGD, AdamW) with
// their state, atomic checkpoints that resume a run exactly, and the training loop that logs
// to a Tracker. Encoder gives the frozen features (of the online network) the NeWT probe scores.
//
// Gorgonia builds the graphs, differentiates them symbolically and runs them on its tape
// machine. The heavy layers are ops of this package: the whole backbone is one op
// (backbone.go, backbone_op.go) that runs its convolutions, batch norms and residual sums
// over channels-last activations, keeps only what its backward pass reads, and plans its
// buffers in one slab (memplan.go); the head's linear layers and batch norm are ops of
// their own (linear.go, batchnorm_op.go). Gorgonia's own Conv2d and BatchNorm spend most of
// a step outside BLAS, its matrix-product gradient picks a wrong buffer shape when the batch
// equals a layer width, and its BatchNorm zeroes its running statistics when training is
// switched on. The ops call kernels over plain slices (kernels.go, im2col.go, winograd.go,
// in C where cgo is on) and the BLAS Gorgonia is set to use: gonum's pure Go by default,
// OpenBLAS with -tags openblas (blas_openblas.go, cgo, -lopenblas). 3×3 stride-1
// convolutions use Winograd's F(4×4, 3×3), the others im2col in cache-sized blocks (conv.go).
//
// The ops decide what to compute and where it lives; they compute through a backend
// (backend.go): the CPU's calls the kernels above, the CUDA backend (cuda_backend.go) the same
// kernels written in CUDA C (package trainer/cuda) and cuBLAS, on buffers in GPU memory, which
// Gorgonia's graph carries as device values (devvalue.go) it passes from op to op unread.
// One graph is built per entry of train.devices (engine.go maps the devices to backends), and
// each replica runs its tape machine on its own goroutine, so [cpu, cpu] keeps two cores busy.
// On GPUs (cuda_net.go, cuda_queue.go) each replica has its own streams, the replicas of one
// GPU share its parameters, the gradients are summed and the optimizer steps on the first GPU,
// and the images are uploaded from page-locked buffers while the previous step computes;
// CheckDevices refuses GPUs that cannot train before any work, counting the memory a build
// would allocate. A target network's parameters live on every GPU beside the online ones,
// and its EMA step runs there, on each GPU alike. The CUDA backend runs on a host simulation
// of its kernels in the tests. The replicas meet once per step inside the loss op
// (gather.go): their embeddings (and the target network's) are gathered, in one exchange,
// into the global batch (layout.go), the method's loss and its gradient are computed once
// over it, and each replica back-propagates its share; the summed parameter gradients are
// those of one replica on the whole batch (each replica's batch norm uses its own share's
// statistics, as SimCLR without global BN does; the losses' own statistics are the global
// batch's). Parameter values are shared by all replica graphs, so the optimizer updates them
// once, in place; the target network then takes its EMA step and MoCo's queue the step's
// keys.
//
// A run can span processes (Options.Ranks: MPI ranks, ranks.go): rank r's replicas are the
// world's r·R ... r·R+R−1. In the loss op, the replica that completes the rank's set hands the
// rank's embeddings (the target network's too) to an all-gather (in rank order), so that
// every method's loss and its gradient are computed over the world's batch alike on every
// rank, and MoCo's queues, fed from the gathered keys, and the target networks, moved by the
// same summed update, stay the same on every rank; after the in-place sum of its
// replicas' gradients, each rank's sum goes through one ordered sum over the ranks (rank 0's,
// then rank 1's, ...), as do the batch-norm running statistics, so that N ranks of one
// replica reproduce one process of N replicas bit for bit (on GPUs, the rank's sum is copied
// to the host for it and back). train.devices [auto] is each rank's device by its local rank
// (devices.go: a GPU where the CUDA driver sees one, else the CPU); CheckRankDevices checks a
// rank's devices for its share of the batch. Before every step the ranks agree
// (one small all-gather) on stopping (a signal on any rank, the time limit on rank 0's
// clock), on the end of the data, and on leaving out a batch short on any of them, so that
// all take the same steps; rank 0 alone is given the tracker and the hooks and writes the
// checkpoints, with the loader positions of all ranks merged.
//
// Checkpoints and the tracker are written in an order that loses nothing to a kill: the
// tracker commits a checkpoint's metrics and row first, the file is renamed into place after,
// pruned files are forgotten, and the temporary files of killed writes are removed. A run
// whose data fails (storage unreachable) checkpoints before it stops. EstimateMemory sizes a
// config from its shapes alone (every view group, the method's heads and target network, its
// loss and MoCo's queues; on GPUs, the host's part: no activations), and training refuses one
// beyond the machine's memory (CheckMemory; over ranks CheckRankMemory: each rank its share of
// the batch, the ranks on one machine together) before allocating anything.
//
// Hooks (hook.go) run between steps on the training goroutine, while the model is still: the
// online monitor takes a HookPoint's Encoder, a copy of the parameters and running statistics
// in evaluation mode, so that whatever it does cannot reach training; the time hooks take is
// left out of the run's clock.
//
// The loader feeds it through the Source interface (internal/pipeline adapts *loader.Loader),
// *experiments.Run satisfies Tracker, and the metric keys it logs are those of package metric
// (experiments/metric).
package trainer
