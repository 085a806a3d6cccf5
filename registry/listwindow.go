package registry

import (
	"time"
	_ "time/tzdata" // Europe/Paris must resolve in a scratch container too
)

// This file is the one place that knows the window of start times the
// list endpoint accepts (docs/registry.md, "The list endpoint"): its end
// and 90-day start as the servers compute them, the margins a caller keeps
// from them, and how its times are written.

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

// ListMaxAgeDays is how many Paris days before ListEndLimit the list's
// start may reach back.
const ListMaxAgeDays = 90

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
// ListMaxAgeDays (90) days before ListEndLimit.
func ListStartLimit(now time.Time) time.Time {
	return ListEndLimit(now).AddDate(0, 0, -ListMaxAgeDays)
}

// Margins a caller keeps from the list's limits, because the registry's
// clock may be a little behind or ahead of its own.
const (
	// ListEndMargin: the end limit is read this much early, so that a
	// registry whose clock is behind has already moved to the same UTC
	// date; for that long after UTC midnight the day before's end is kept,
	// which the registry accepts either way.
	ListEndMargin = time.Minute
	// ListAgeMargin keeps the oldest start asked clear of the 90-day
	// limit, whose date may change before the caller's.
	ListAgeMargin = time.Hour
)

// ListWindow is a range of start times, Start ≤ start < End.
type ListWindow struct {
	Start, End time.Time
}

// SafeListWindow is the widest window a caller whose clock reads now may
// ask of the list with a registry clock a little off its own: End is
// ListEndLimit, Start a second after ListStartLimit (on whole seconds, as
// the list filters), each read with its margin.
func SafeListWindow(now time.Time) ListWindow {
	return ListWindow{
		Start: ListStartLimit(now.Add(ListAgeMargin)).Add(time.Second),
		End:   ListEndLimit(now.Add(-ListEndMargin)),
	}
}

// Holds tells whether a list asked over [lo, hi) stays within w.
func (w ListWindow) Holds(lo, hi time.Time) bool {
	return !hi.After(w.End) && !lo.Before(w.Start)
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

// listTime writes a list query's start or end: RFC 3339 with the Paris
// offset, because the servers want an offset and the limits they check
// are Paris midnights.
func listTime(t time.Time) string { return t.In(paris).Format(time.RFC3339) }
