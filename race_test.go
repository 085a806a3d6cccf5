//go:build race

package main

// raceEnabled: the tests run with the race detector, and so does the
// binary the end-to-end tests build.
const raceEnabled = true
