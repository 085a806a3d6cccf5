package simulator

import "time"

// lonZone is one row of the servers' getTzFromLon (pdc/helpers/geo.helper.ts).
type lonZone struct {
	lo, hi float64
	loc    *time.Location
}

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("simulator: " + name + ": " + err.Error())
	}
	return loc
}

// lonZones map a start longitude to the time zone whose day the trips-a-day
// rule counts, as the servers do: metropolitan France, then the overseas
// territories; anywhere else is UTC.
var lonZones = []lonZone{
	{-5.5, 9.8, paris},
	{-62, -60, mustZone("America/Guadeloupe")},
	{-54, -51, mustZone("America/Cayenne")},
	{-56.5, -56.1, mustZone("America/Miquelon")},
	{55, 56, mustZone("Indian/Reunion")},
	{44, 46, mustZone("Indian/Mayotte")},
	{158, 172, mustZone("Pacific/Noumea")},
	{-155, -135, mustZone("Pacific/Tahiti")},
	{-178.3, -176.1, mustZone("Pacific/Wallis")},
}

func tzFromLon(lon float64) *time.Location {
	for _, z := range lonZones {
		if lon >= z.lo && lon <= z.hi {
			return z.loc
		}
	}
	return time.UTC
}

// localDay is the day around t in loc, [00:00, next 00:00).
func localDay(t time.Time, loc *time.Location) (start, end time.Time) {
	y, m, d := t.In(loc).Date()
	start = time.Date(y, m, d, 0, 0, 0, 0, loc)
	return start, time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}
