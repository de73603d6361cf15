//go:build race

package trainer

// The race detector slows the trainer's arithmetic tenfold; the longest checks skip under it.
func init() { raceEnabled = true }
