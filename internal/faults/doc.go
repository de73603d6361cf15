// Package faults holds natssl's fault campaign: the faults a week-long run meets on a user's
// cluster, inflicted on the real binary (kill -9 at random moments followed by
// --resume auto, bad files among the images, an S3 outage through a fault proxy in front of
// moto_server, a full disk on a small tmpfs), each checked for what survived and what was
// lost, and summed up in one table.
//
// It is a test behind the faults build tag, run by `make faults` (which builds bin/natssl
// first); it takes a few minutes and needs root for the tmpfs (the full-disk case is skipped
// without it). The unit tests of each package cover the same faults one at a time; this is
// the campaign that runs them against the whole program.
package faults
