// Package pipeline is the life of a run, written once: it is the only package that uses the
// loader, the trainer, the tracker, the probe and the SageMaker job together. natssl's commands
// and a SageMaker training job both call it:
//
//   - Train checks the local data (CheckInputs, also behind config validate), opens the tracker,
//     finds what to resume (FindResume), opens the data and the monitor's sets before it
//     creates a run, trains, keeps the run's heartbeat, and marks the run FINISHED, KILLED or
//     FAILED; with eval.monitor_every it also watches the run learn (monitor.go): a trainer
//     hook of the first rank scores a snapshot of the encoder every N steps with a weighted
//     kNN top-1 on a labelled set and the NeWT probe on a few tasks, logged as
//     monitor/knn_top1 and monitor/newt_mean and shown with the step;
//   - Evaluate scores a checkpoint, a run's latest checkpoint, a random-init encoder or a
//     features file with the NeWT probe on a suite (newt, or val) and records the evaluation
//     with its classifier, suite file (path and hash) and checkpoint, beside the earlier ones;
//   - Export writes the encoder of a checkpoint or of a run's latest checkpoint as ONNX or
//     safetensors (package export) and records the file with the run in the tracker;
//   - Report gathers runs into a comparison of one classifier's evaluations, giving it each
//     run's encoder cost (parameters and MFLOPs per image at the run's eval size, from the
//     config the run recorded), or a sweep's trials into the sweep's report;
//   - RunSweep checks a sweep's design and stores it (package sweep), or opens a stored one,
//     and runs its trials in child processes, after reading the trials' monitor sets once;
//     RunSweepTrial is one such child: Train with the trial's tags (its monitor, if any, on the
//     validation suite), then Evaluate on the validation suite (suite "val"), whose latest
//     evaluation is the trial's score;
//   - Train over an MPI job (TrainOptions.World, world.go): every rank calls it; the ranks
//     check they hold one config, and each checks and opens its share of the data (rank 0
//     the monitor's sets too) before rank 0 alone creates the run, so that an input one rank
//     cannot read leaves no run behind; rank 0 alone opens the tracker, finds what to resume
//     and sends the checkpoint to the others, keeps the heartbeat and marks the run (FAILED
//     with a failed rank's error; FAILED too when the launcher ends the job and the ranks do
//     not stop in time, a rank having died); each rank's loader reads its replicas' share and
//     votes with the others at every batch so that all end an epoch together;
//   - RunJob is natssl train inside a SageMaker job: it resolves the config once (the job's
//     hyperparameters as a layer), points it at the job's folders, resumes, trains, evaluates
//     and exports the model artefacts; with several hosts, the first starts mpirun over all
//     of them and the others wait (hostJob), and RunJob then runs as each rank;
//   - BenchLoader, BenchTrain and BenchProbe measure throughput;
//   - DeleteRun removes a run (and with purge its checkpoint files), and Watch follows a run
//     through the tracker from another process.
//
// Each call takes a resolved, validated *configs.Config and an options struct, and reports
// progress to an Observer (notices, run started, steps, run finished, counted progress), so
// that a caller prints what it likes and a test sees what happened without parsing output.
//
// One rule per concern lives here: LatestCheckpoint is the only answer to "which checkpoint
// of a run is its latest" (the newest file that verifies; a torn one is skipped with a notice
// naming it), and a run's heartbeat is kept by the tracker's KeepAlive goroutine alone, whose
// failed beats are reported and retried but never stop training.
//
// A resume claims its run for this process: a run that another live process is training is
// refused, naming its host and process, unless forced; a run killed before its first
// checkpoint is taken up again from step 0 under its id; checkpoints recorded whose files are
// gone are forgotten. The loader's notices (skipped files named, S3 retries and recoveries)
// reach the Observer.
//
// Errors that refuse a request before any work (a --resume that names nothing, a batch that
// does not divide over the replicas, a changed config on resume, a run that is still alive,
// a model and batch beyond the machine's memory) are *RequestError or *trainer.MismatchError;
// the command line maps them to exit codes, which this package leaves to it, along with
// flags, printing and hints.
package pipeline
