// Package sweep searches a training recipe the way researchers do: many trials over config
// keys, each a normal tracked run, judged on a validation suite and never on the evaluation
// suite, so that choosing the recipe does not look at the test images.
//
// A Design (the --param values of natssl sweep, grid or random search, seeds per
// configuration, the time budget of each trial) is checked whole by NewPlan before anything
// runs: every key must be one --set accepts and every value, and every trial's config, must
// pass the config's own validation; all problems are reported at once. Create stores the plan
// in the tracker (the sweeps, sweep_trials and sweep_values tables): the resolved base config,
// the design as JSON, and each trial's values and seed, so that a sweep is resumed from the
// tracker alone, whatever the code that expands designs becomes. A trial's runs carry the tags
// sweep=<id> and trial=<n>.
//
// Run runs the trials that need work through a Launcher, K at a time, with progress; Exec,
// the Launcher natssl uses, starts each trial as a child process of the natssl binary pinned to
// its share of the cores, which runs RunTrial: train (continuing an interrupted run within what
// is left of its budget), then score the newest checkpoint on the validation suite through a
// Worker. Training and the probe themselves are the Worker's, which internal/pipeline provides
// (its Train and Evaluate, as every natssl run uses them); the report of a sweep is the report
// package's.
//
// A trial is watched, as it is judged, on the validation suite: where the online monitor's NeWT
// suite would follow the evaluation suite (eval.monitor_newt_csv ""), NewPlan points it at the
// validation suite, and a monitor suite named in the config must share no image with the
// evaluation suite. The monitor's scores are the trial's curves, not its score.
package sweep
