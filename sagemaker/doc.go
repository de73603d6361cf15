// Package sagemaker runs natssl as an Amazon SageMaker training job and launches such jobs.
//
// Inside a job's container (Detect finds /opt/ml/input/config, or the base named by
// SAGEMAKER_BASE_DIR), Open reads what SageMaker hands over under /opt/ml: the hyperparameters
// (dotted config keys with string values), the hosts (this host's rank and the host count, for
// the loader's host-level shard) and the data channels (`train` feeds data.source, `newt` the
// NeWT evaluation suite). Job.Apply points the configuration at those folders and at
// /opt/ml/checkpoints, which SageMaker syncs with S3 and restores on a spot restart, so that
// checkpoints and the tracker database survive an interruption. At the end Job.ExportModel puts
// the final checkpoint, the resolved config and a consistent copy of the database into
// /opt/ml/model, and on failure Job.WriteFailure leaves the reason in /opt/ml/output/failure,
// which SageMaker shows as the job's FailureReason.
//
// Outside a job, Request builds the CreateTrainingJob call for `natssl launch` from the config's
// sagemaker section; Client creates the job and follows it (aws-sdk-go-v2).
//
// A job of several hosts trains one model over MPI (mpi.go): the first of the sorted hosts
// starts mpirun over all of them (MPIRun, after WaitForSSH), the others start sshd and wait for
// the job to come and go (WaitForJob), as SageMaker's training toolkit runs MPI jobs; what each
// rank does is internal/pipeline's.
//
// The training loop itself belongs to package trainer; this package only prepares its inputs
// and collects its outputs.
package sagemaker
