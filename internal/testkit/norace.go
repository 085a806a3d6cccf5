//go:build !race

package testkit

// Race is whether the tests run with the race detector: the programs they
// build then have it too.
const Race = false
