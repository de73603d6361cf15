package metric

// The keys the training loop logs every train.log_every steps.
const (
	Loss              = "loss"               // mean NT-Xent loss over the steps since the last log
	LossLast          = "loss_last"          // the loss of the row's own step, as the console shows it
	LR                = "lr"                 // learning rate of the last step
	ImagesPerS        = "images_per_s"       // training throughput since the last log
	DataWait          = "data_wait"          // fraction of that time spent waiting for the loader
	Epoch             = "epoch"              // epoch of the last batch
	BatchesIncomplete = "batches_incomplete" // batches dropped because an epoch ended inside them
)

// The keys of the loader's counters, logged with the training metrics.
const (
	LoaderImagesPerS = "loader_images_per_s" // the loader's own throughput since it started
	Skipped          = "skipped"             // bad samples skipped so far, all reasons together
)

// SkippedFor is the key of the count of samples skipped for one reason (the loader's Skip*
// constants): "skipped_corrupt", "skipped_missing", ...
func SkippedFor(reason string) string { return "skipped_" + reason }

// The online monitor's scores of the encoder while it trains (eval.monitor_every), and the
// seconds each monitor took.
const (
	MonitorKNN     = "monitor/knn_top1"  // weighted kNN top-1 on the monitor's labelled set
	MonitorNeWT    = "monitor/newt_mean" // mean NeWT probe accuracy on the monitor's tasks
	MonitorSeconds = "monitor/seconds"   // wall time of one monitor, left out of the run's clock
)
