package web

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// Limits of a page.
const (
	DefaultLimit = 100
	MaxLimit     = 10_000
)

// Query is a parsed list request.
type Query struct {
	Filter tracker.Filter
	Cursor tracker.Cursor
	// Limit is the page size; 0 for a CSV export without one: every
	// matching journey.
	Limit int
	CSV   bool
}

// QueryError is a bad parameter: its name, what was wrong, and the values
// it accepts.
type QueryError struct {
	Parameter string   `json:"parameter"`
	Message   string   `json:"error"`
	Allowed   []string `json:"allowed,omitempty"`
}

func (e *QueryError) Error() string {
	if len(e.Allowed) == 0 {
		return e.Message
	}
	return e.Message + "; allowed: " + strings.Join(e.Allowed, ", ")
}

// Parameters are the list's query parameters, in the order the docs give
// them.
var Parameters = []string{
	"status", "fraud_label", "anomaly_label", "reason", "source",
	"registered_from", "registered_to", "start_from", "start_to", "last_check_from", "last_check_to",
	"changed_from", "changed_to", "lag_from", "lag_to",
	"limit", "cursor", "format",
}

const timeHelp = "an RFC 3339 time (2026-12-01T08:00:00Z) or Unix seconds"

// ParseQuery reads a list request's parameters. A value list may be given
// by repeating the parameter or with commas; values of one parameter are
// alternatives, parameters all apply. wantCSV is the format the Accept
// header asks for, overridden by format.
func ParseQuery(q url.Values, wantCSV bool) (Query, error) {
	out := Query{CSV: wantCSV}
	for name := range q {
		if !slices.Contains(Parameters, name) {
			return Query{}, &QueryError{Parameter: name, Message: fmt.Sprintf("unknown parameter %q", name), Allowed: Parameters}
		}
	}
	var err error
	sets := []struct {
		name  string
		vocab []string
		set   func(bits uint16)
	}{
		{"status", tracker.Statuses.Names(), func(b uint16) { out.Filter.Statuses = b }},
		{"fraud_label", tracker.FraudLabels.Names(), func(b uint16) { out.Filter.Fraud = uint8(b) }},
		{"anomaly_label", tracker.AnomalyLabels.Names(), func(b uint16) { out.Filter.Anomaly = uint8(b) }},
		{"reason", tracker.TermsReasons.Names(), func(b uint16) { out.Filter.Terms = uint8(b) }},
		{"source", tracker.SourceNames[:], func(b uint16) { out.Filter.Sources = b }},
	}
	for _, s := range sets {
		bits, err := parseSet(q, s.name, s.vocab)
		if err != nil {
			return Query{}, err
		}
		s.set(bits)
	}
	ranges := []struct {
		name string
		r    *tracker.Range
	}{
		{"registered", &out.Filter.Registered}, {"start", &out.Filter.Start}, {"last_check", &out.Filter.LastCheck},
		{"changed", &out.Filter.Changed},
	}
	for _, rg := range ranges {
		if rg.r.From, err = parseTime(q, rg.name+"_from"); err != nil {
			return Query{}, err
		}
		if rg.r.To, err = parseTime(q, rg.name+"_to"); err != nil {
			return Query{}, err
		}
		if !rg.r.From.IsZero() && !rg.r.To.IsZero() && !rg.r.From.Before(rg.r.To) {
			return Query{}, &QueryError{Parameter: rg.name + "_to", Message: fmt.Sprintf("%s_to must be after %s_from", rg.name, rg.name)}
		}
	}
	if out.Filter.Lag, err = parseLag(q); err != nil {
		return Query{}, err
	}
	if v, ok := single(q, "cursor"); ok {
		if out.Cursor, err = tracker.ParseCursor(v); err != nil {
			return Query{}, &QueryError{Parameter: "cursor", Message: "cursor: " + err.Error()}
		}
	}
	if v, ok := single(q, "format"); ok {
		switch v {
		case "json":
			out.CSV = false
		case "csv":
			out.CSV = true
		default:
			return Query{}, &QueryError{Parameter: "format", Message: fmt.Sprintf("format %q is not known", v), Allowed: []string{"json", "csv"}}
		}
	}
	if !out.CSV {
		out.Limit = DefaultLimit
	}
	if v, ok := single(q, "limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return Query{}, &QueryError{Parameter: "limit", Message: fmt.Sprintf("limit %q is not a whole number from 1 to %d", v, MaxLimit)}
		}
		out.Limit = n
	}
	for _, name := range []string{"cursor", "format", "limit"} {
		if len(q[name]) > 1 {
			return Query{}, &QueryError{Parameter: name, Message: name + " is given more than once"}
		}
	}
	return out, nil
}

func single(q url.Values, name string) (string, bool) {
	vs := q[name]
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// parseSet reads the values of a parameter into a bit set of their
// places in vocab.
func parseSet(q url.Values, name string, vocab []string) (uint16, error) {
	var bits uint16
	for _, v := range q[name] {
		for item := range strings.SplitSeq(v, ",") {
			i := slices.Index(vocab, item)
			if i < 0 {
				return 0, &QueryError{Parameter: name, Message: fmt.Sprintf("%s %q is not known", name, item), Allowed: vocab}
			}
			bits |= 1 << i
		}
	}
	return bits, nil
}

// maxLag bounds a submission lag bound: a year is far beyond any lag
// the registry accepts, and keeps the seconds' conversion exact.
const maxLag = 366 * 24 * time.Hour

// parseLag reads lag_from and lag_to, whole seconds from a journey's
// start to its submission.
func parseLag(q url.Values) (tracker.LagRange, error) {
	var r tracker.LagRange
	for _, b := range []struct {
		name string
		d    *time.Duration
	}{{"lag_from", &r.From}, {"lag_to", &r.To}} {
		vs := q[b.name]
		if len(vs) == 0 {
			continue
		}
		if len(vs) > 1 {
			return r, &QueryError{Parameter: b.name, Message: b.name + " is given more than once"}
		}
		s, err := strconv.ParseInt(vs[0], 10, 64)
		if err != nil || s < 0 || time.Duration(s)*time.Second > maxLag {
			return r, &QueryError{Parameter: b.name, Message: fmt.Sprintf("%s %q is not a whole number of seconds from 0 to %d (64800 is 18 h)", b.name, vs[0], int64(maxLag/time.Second))}
		}
		*b.d = time.Duration(s) * time.Second
		r.Set = true
	}
	if _, given := q["lag_to"]; given && r.To <= r.From {
		return r, &QueryError{Parameter: "lag_to", Message: "lag_to must be more than lag_from (0 when not given)"}
	}
	return r, nil
}

func parseTime(q url.Values, name string) (time.Time, error) {
	vs := q[name]
	if len(vs) == 0 {
		return time.Time{}, nil
	}
	if len(vs) > 1 {
		return time.Time{}, &QueryError{Parameter: name, Message: name + " is given more than once"}
	}
	v := vs[0]
	// Unix seconds, 0 included: an alert's link computes its bound as
	// time() minus a window, clamped at 0 on a young Prometheus.
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 && s < 1<<40 {
		return time.Unix(s, 0), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil && t.Year() > 1970 && t.Year() < 10000 {
		return t, nil
	}
	return time.Time{}, &QueryError{Parameter: name, Message: fmt.Sprintf("%s %q is not %s", name, v, timeHelp)}
}
