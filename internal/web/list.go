package web

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// Page is the JSON answer of the list.
type Page struct {
	Journeys []tracker.Journey `json:"journeys"`
	// Next is the cursor of the following page, empty on the last one.
	Next string `json:"next"`
}

// NextCursorTrailer carries, after a CSV page cut by limit, the cursor of
// the following page: it is only known once the page is written.
const NextCursorTrailer = "X-Next-Cursor"

// list answers GET /api/v1/journeys/{registry}.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	reg, ok := s.registry(w, r.PathValue("registry"))
	if !ok {
		return
	}
	q, err := ParseQuery(r.URL.Query(), acceptsCSV(r.Header.Get("Accept")))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if q.CSV {
		s.writeCSV(w, r, reg, q)
		return
	}
	page := Page{Journeys: make([]tracker.Journey, 0, min(q.Limit, 1024))}
	var last tracker.Cursor
	more := false
	err = reg.Tracker.Find(q.Filter, q.Cursor, func(j tracker.Journey, c tracker.Cursor) bool {
		if len(page.Journeys) == q.Limit {
			more = true // one more matches: the next page is not empty
			return false
		}
		page.Journeys = append(page.Journeys, j)
		last = c
		return r.Context().Err() == nil
	})
	if err != nil {
		writeError(w, http.StatusBadRequest, &QueryError{Parameter: "cursor", Message: "cursor: " + err.Error()})
		return
	}
	if more {
		page.Next = last.String()
	}
	writeJSON(w, s, page)
}

// acceptsCSV tells whether an Accept header prefers text/csv to JSON.
func acceptsCSV(accept string) bool {
	best, csvQ := -1.0, -1.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "text/csv":
			csvQ = max(csvQ, q)
		case "application/json", "*/*", "application/*":
			best = max(best, q)
		}
	}
	return csvQ > 0 && csvQ > best
}

// CSVHeader names the columns of the CSV list. Label lists are joined
// with "|", the transitions with "; ", each as "time status" and its
// labels.
var CSVHeader = []string{
	"id", "source", "status", "fraud_labels", "anomaly_labels", "terms_violations",
	"start", "created_at", "registered_at", "last_check", "next_check", "forget_at", "checks", "transitions",
}

// CSVRecord is a journey as a CSV row, in CSVHeader's order.
func CSVRecord(j tracker.Journey) []string {
	var story strings.Builder
	for i, t := range j.Transitions {
		if i > 0 {
			story.WriteString("; ")
		}
		story.WriteString(formatTime(t.At) + " " + t.Status)
		for _, l := range [...]struct {
			name   string
			values []string
		}{{"fraud", t.FraudLabels}, {"anomaly", t.AnomalyLabels}, {"terms", t.TermsReasons}} {
			if len(l.values) > 0 {
				story.WriteString(" " + l.name + "=" + strings.Join(l.values, "|"))
			}
		}
	}
	return []string{
		j.ID, j.Source, j.Status, strings.Join(j.FraudLabels, "|"), strings.Join(j.AnomalyLabels, "|"), strings.Join(j.TermsReasons, "|"),
		formatTime(j.Start), formatTime(j.CreatedAt), formatTime(j.RegisteredAt), formatTime(j.LastCheck),
		formatTime(j.NextCheck), formatTime(j.ForgetAt), strconv.Itoa(j.Checks), story.String(),
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// csvChunkWriteTimeout is how long a client gets to take each chunk of a
// streamed CSV export.
const csvChunkWriteTimeout = time.Minute

// writeCSV streams the list: rows are written as each chunk is read, and
// flushed, so a million rows never sit in memory and a spreadsheet sees
// the first ones at once.
func (s *Server) writeCSV(w http.ResponseWriter, r *http.Request, reg Registry, q Query) {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+reg.Name+`-journeys.csv"`)
	h.Set("Trailer", NextCursorTrailer)
	flusher := http.NewResponseController(w)
	cw := csv.NewWriter(w)
	started := false
	n := 0
	var last tracker.Cursor
	more := false
	err := reg.Tracker.Find(q.Filter, q.Cursor, func(j tracker.Journey, c tracker.Cursor) bool {
		if q.Limit > 0 && n == q.Limit {
			more = true
			return false
		}
		if !started {
			started = true
			_ = cw.Write(CSVHeader)
		}
		_ = cw.Write(CSVRecord(j))
		n++
		last = c
		if n%256 == 0 {
			cw.Flush()
			if cw.Error() != nil {
				return false // the client left
			}
			// The server's write timeout bounds a whole answer; a long
			// export to a slow reader gets it again at each chunk instead
			// of being cut off mid-file.
			_ = flusher.SetWriteDeadline(time.Now().Add(csvChunkWriteTimeout))
			_ = flusher.Flush()
		}
		return r.Context().Err() == nil
	})
	if err != nil && !started {
		h.Del("Trailer")
		writeError(w, http.StatusBadRequest, &QueryError{Parameter: "cursor", Message: "cursor: " + err.Error()})
		return
	}
	if !started {
		_ = cw.Write(CSVHeader)
	}
	cw.Flush()
	if more {
		h.Set(NextCursorTrailer, last.String())
	}
}

// journey answers GET /api/v1/journeys/{registry}/{id...}: what the
// exporter knows of one journey and its story, for an on-call wondering
// why it is still pending.
func (s *Server) journey(w http.ResponseWriter, r *http.Request) {
	reg, ok := s.registry(w, r.PathValue("registry"))
	if !ok {
		return
	}
	id := r.PathValue("id")
	if reg.Canonical != nil {
		c, err := reg.Canonical(id)
		if err != nil {
			writeError(w, http.StatusBadRequest, &QueryError{Parameter: "id", Message: err.Error()})
			return
		}
		id = c
	}
	j, ok := reg.Tracker.Lookup(id)
	if !ok {
		writeError(w, http.StatusNotFound, &QueryError{Parameter: "id", Message: "journey not tracked"})
		return
	}
	writeJSON(w, s, j)
}

// lookup is the status page's search box: it sends the browser to the
// journey's answer.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, id := strings.TrimSpace(q.Get("registry")), strings.TrimSpace(q.Get("id"))
	if _, ok := s.registry(w, name); !ok {
		return
	}
	if id == "" {
		writeError(w, http.StatusBadRequest, &QueryError{Parameter: "id", Message: "give a journey id"})
		return
	}
	http.Redirect(w, r, s.prefix+"/api/v1/journeys/"+url.PathEscape(name)+"/"+url.PathEscape(id), http.StatusSeeOther)
}

// writeJSON encodes v whole before answering: a value that cannot be
// encoded is a 500 and a log line, never a 200 with half a body.
func writeJSON(w http.ResponseWriter, s *Server, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		s.opts.Logger.Error("encoding a journey answer", "err", err)
		http.Error(w, "the answer could not be encoded: see the exporter's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

// writeError answers a JSON error naming the parameter at fault.
func writeError(w http.ResponseWriter, code int, err error) {
	var qe *QueryError
	if !errors.As(err, &qe) {
		qe = &QueryError{Message: err.Error()}
	}
	body, _ := json.Marshal(qe)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}
