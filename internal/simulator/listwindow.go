package simulator

import (
	"time"
	_ "time/tzdata" // Europe/Paris in any container
)

var paris = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic("simulator: Europe/Paris: " + err.Error())
	}
	return loc
}()

// listEndLimit is how the servers compute the list's latest end: today
// 00:00 Europe/Paris, "today" being the current UTC date (docs/registry.md,
// "The list endpoint"). It repeats registry.ListEndLimit on purpose: the
// simulator is the test double of the servers, and sharing the client's
// code would make a client bug the servers' behaviour too.
func listEndLimit(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, paris)
}

// formatMillis renders created_at as the servers do, with milliseconds
// (2025-09-17T10:00:00.123Z).
func formatMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
