// Package trainer trains SimCLR encoders with Gorgonia: the encoders (convnet-small,
// resnet18-cifar, resnet18, resnet50) and the projection head, the NT-Xent loss over the
// global batch of all data-parallel replicas, the optimizers (LARS, SGD, AdamW) with their
// state, atomic checkpoints that resume a run exactly, and the training loop that logs to
// a Tracker.
//
// One Gorgonia graph is built per entry of train.devices. On CPU each replica runs its own
// tape machine on its own goroutine (a tape machine runs ops one at a time, so one graph
// keeps one core busy); the replicas meet once per step inside the loss op, where their
// embeddings are gathered so that every replica sees the negatives of all of them, and the
// gradients are averaged before the optimizer step. Parameter values are shared by all
// replica graphs, so the optimizer updates them once, in place.
//
// The trainer engineer owns this package. The loader feeds it through the Source
// interface (internal/cli adapts *loader.Loader), and *experiments.Run satisfies Tracker.
package trainer
