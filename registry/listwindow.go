package registry

import (
	"time"
	_ "time/tzdata" // Europe/Paris must resolve in a scratch container too
)

// paris is the registry's time zone for the list's limits.
var paris = mustLoadParis()

func mustLoadParis() *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		// Unreachable with time/tzdata embedded.
		panic("registry: Europe/Paris time zone: " + err.Error())
	}
	return loc
}

// Paris is the Europe/Paris location, as the registry's list reads it.
func Paris() *time.Location { return paris }

// ListEndLimit is the latest end the list endpoint accepts at now: today
// 00:00 Europe/Paris, where the servers take "today" as the current UTC
// date (docs/registry.md, "The list endpoint"). Between Paris midnight
// and UTC midnight (22:00 or 23:00 to 00:00 UTC) Paris is already a day
// ahead, and the limit is still the midnight before: journeys that started
// on the Paris date of the limit or later cannot be listed yet.
func ListEndLimit(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, paris)
}

// ListStartLimit is the earliest start the list endpoint accepts at now:
// 90 days before ListEndLimit.
func ListStartLimit(now time.Time) time.Time {
	return ListEndLimit(now).AddDate(0, 0, -90)
}

// ListableFrom is when a journey that started at start can first be
// listed: the first UTC midnight at which the Paris midnight of that UTC
// date is after start. That is the Paris midnight after start, plus the
// one or two hours by which UTC lags Paris.
func ListableFrom(start time.Time) time.Time {
	y, m, d := start.In(paris).Date()
	next := time.Date(y, m, d+1, 0, 0, 0, 0, paris) // Paris midnight after start
	ny, nm, nd := next.Date()
	// The servers use it once the UTC date is the Paris date of next.
	return time.Date(ny, nm, nd, 0, 0, 0, 0, time.UTC)
}
