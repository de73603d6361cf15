// Package metric names the keys of the tracker's metrics table (metrics.key): the training
// loop logs them and the tracker's readers (natssl runs, report) look them up. It imports
// nothing, so that package trainer can name the keys it logs without depending on the tracker
// (SQLite) that stores them.
package metric
