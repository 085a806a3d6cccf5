// Package starts bounds a journey's start time alike wherever one comes
// in: the push endpoint, the proxy and the configuration file. It is a
// leaf, imported by the configuration, which imports no runtime package.
package starts

import (
	"fmt"
	"time"
)

// The starts taken: from Min to MaxAhead past the registry's clock. A
// start out of these bounds is a placeholder or a unit mistake, and a far
// one breaks the journey's schedule and what the journey API can show of
// it (no year after 9999 in RFC 3339).
var Min = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

const MaxAhead = 24 * time.Hour

// Check says why t is no journey's start at now, the registry's time: nil
// when it may be. The reason reads after the start ("… is before 2015").
func Check(t, now time.Time) error {
	if t.Before(Min) {
		return fmt.Errorf("before %d: no carpooling journey the registry holds is that old", Min.Year())
	}
	if t.After(now.Add(MaxAhead)) {
		return fmt.Errorf("more than %s in the future", MaxAhead)
	}
	return nil
}
