// Package push is the exporter's push endpoint: an operator's back end
// registers the journeys it submitted to the registry, one or a batch, and
// the exporter follows them from then on.
//
// A request is all or nothing where it matters: the whole body is read
// and every item validated before anything is registered, so a body that
// is malformed, too large or too slow changes nothing; the valid items of
// a processed request are registered in one call that returns once they
// are durable, and only then is the answer sent.
package push

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// Registry is where pushed journeys go: the exporter's handle on one
// configured registry.
type Registry interface {
	// CanonicalID checks an id as the registry would and gives the form
	// it is followed by (v2: "007" and "7" are one journey).
	CanonicalID(id string) (string, error)
	// Register returns once regs are durable; added counts the new ones.
	Register(ctx context.Context, regs []tracker.Registration) (added int, err error)
	// Now is the registry's time, which bounds a pushed start: the wall
	// clock, or the demo registry's clock under --demo, which runs an
	// hour a second.
	Now() time.Time
}

// Lookup finds the registry the configuration names name; ok is false
// when it names none.
type Lookup func(name string) (r Registry, ok bool)

// Observer is told what the endpoint does; the collector's PushMetrics
// implements it. Its methods must be fast and safe for concurrent use.
type Observer interface {
	// Request: an answer with code. registry is a configured registry's
	// name, or "" when the URL named none.
	Request(registry string, code int)
	// Journeys: the items of a processed request.
	Journeys(registry string, added, alreadyTracked, rejected int)
}

type noObserver struct{}

func (noObserver) Request(string, int)            {}
func (noObserver) Journeys(string, int, int, int) {}

// Options tune the endpoint; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// MaxBodyBytes bounds a request's body; default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxBatch bounds the journeys of one request; default DefaultMaxBatch.
	MaxBatch int
	// ReadTimeout is how long the whole body may take to arrive, from the
	// moment the handler starts; default DefaultReadTimeout.
	ReadTimeout time.Duration
	// Observer, when set, is told of every request.
	Observer Observer
}

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 16 << 20
	DefaultMaxBatch     = 100_000
	DefaultReadTimeout  = 30 * time.Second
)

// Response is the answer to a processed request (HTTP 200), whether or not
// some items were rejected.
type Response struct {
	// Accepted counts the valid items, now tracked: New of them were not
	// before, AlreadyTracked were.
	Accepted       int `json:"accepted"`
	New            int `json:"new"`
	AlreadyTracked int `json:"already_tracked"`
	// RejectedCount counts the invalid items; Rejected lists the first 100.
	RejectedCount int         `json:"rejected_count"`
	Rejected      []Rejection `json:"rejected"`
}

// Rejection is an item that was not registered, and why.
type Rejection struct {
	// Index is the item's position among the request's items, from 0.
	Index int `json:"index"`
	// Line is the item's line in an NDJSON body, from 1.
	Line int `json:"line,omitempty"`
	// The item's ids as sent, cut to 64 bytes.
	OperatorJourneyID string `json:"operator_journey_id,omitempty"`
	JourneyID         string `json:"journey_id,omitempty"`
	Error             string `json:"error"`
}

// ErrorResponse is the answer to a request that was not processed: none
// of its items was registered.
type ErrorResponse struct {
	Error string `json:"error"`
	// Line (NDJSON, from 1) and Offset point at malformed JSON: Offset
	// counts the bytes of the body read when the fault was found, the
	// faulty byte last (encoding/json's convention, from the body's start).
	Line   int    `json:"line,omitempty"`
	Offset *int64 `json:"offset,omitempty"`
}

type handler struct {
	lookup     Lookup
	opts       Options
	noDeadline sync.Once
}

// NewHandler returns the endpoint. It reads the registry's name from the
// path value "registry": mount it as
// mux.Handle("POST /api/v1/journeys/{registry}", h).
func NewHandler(lookup Lookup, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	return &handler{lookup: lookup, opts: opts}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	name := r.PathValue("registry")
	code, body := h.serve(w, r, name)
	label := name
	if code == http.StatusNotFound {
		label = "" // a name from the URL must not mint series
	}
	h.opts.Observer.Request(label, code)
	if resp, ok := body.(*Response); ok {
		h.opts.Observer.Journeys(name, resp.New, resp.AlreadyTracked, resp.RejectedCount)
		h.opts.Logger.Debug("push processed", "registry", name, "accepted", resp.Accepted,
			"new", resp.New, "rejected", resp.RejectedCount, "duration", time.Since(began))
	} else if e, ok := body.(*ErrorResponse); ok && code != http.StatusServiceUnavailable {
		h.opts.Logger.Debug("push refused", "registry", truncate(name), "code", code, "err", e.Error)
	}
	writeJSON(w, code, body)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, name string) (int, any) {
	reg, ok := h.lookup(name)
	if !ok {
		return http.StatusNotFound, &ErrorResponse{Error: "no registry named " + quote(name) + " in the configuration"}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, &ErrorResponse{Error: "use POST"}
	}
	f, ok := formatOf(r.Header.Get("Content-Type"))
	if !ok {
		return http.StatusUnsupportedMediaType, &ErrorResponse{
			Error: "Content-Type " + quote(r.Header.Get("Content-Type")) +
				": want application/json (an object or an array of objects) or application/x-ndjson (one object a line)"}
	}
	if r.ContentLength > h.opts.MaxBodyBytes {
		return h.refuse(w, &requestError{code: http.StatusRequestEntityTooLarge, offset: -1,
			msg: "body over " + strconv.FormatInt(h.opts.MaxBodyBytes, 10) + " bytes: split the batch"})
	}

	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(h.opts.ReadTimeout)); err != nil {
		h.noDeadline.Do(func() {
			h.opts.Logger.Warn("push: the server cannot bound how long a body takes to arrive; slow clients hold their connection", "err", err)
		})
	}
	d := decoder{
		maxItems:  h.opts.MaxBatch,
		maxBody:   h.opts.MaxBodyBytes,
		canonical: reg.CanonicalID,
		now:       reg.Now(),
	}
	body := http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	var fail *requestError
	if f == formatNDJSON {
		fail = d.decodeNDJSON(body)
	} else {
		fail = d.decodeJSON(body)
	}
	if fail != nil {
		return h.refuse(w, fail)
	}
	// The body is in: registering may take longer than reading did.
	_ = rc.SetReadDeadline(time.Time{})

	// A reload may have removed the registry meanwhile, or replaced its
	// handle: register with the one that runs now.
	if reg, ok = h.lookup(name); !ok {
		return http.StatusNotFound, &ErrorResponse{Error: "no registry named " + quote(name) + " in the configuration"}
	}
	added := 0
	if len(d.regs) > 0 {
		var err error
		added, err = reg.Register(r.Context(), d.regs)
		if err != nil {
			if _, ok := h.lookup(name); !ok {
				return http.StatusNotFound, &ErrorResponse{Error: "no registry named " + quote(name) + " in the configuration"}
			}
			h.opts.Logger.Error("push: registering failed: the request is not acknowledged, the next flush that works writes what it registered",
				"registry", name, "journeys", len(d.regs), "err", err)
			return http.StatusServiceUnavailable, &ErrorResponse{
				Error: "the journeys could not be stored (see the exporter's log): none of this request is acknowledged; send it again, pushing is idempotent"}
		}
	}
	rejected := d.rejected
	if rejected == nil {
		rejected = []Rejection{}
	}
	return http.StatusOK, &Response{
		Accepted: len(d.regs), New: added, AlreadyTracked: len(d.regs) - added,
		RejectedCount: d.rejectedCount, Rejected: rejected,
	}
}

// refuse answers a request whose body was not read whole. The connection
// is closed: what is left of the body may be large, or never come.
func (h *handler) refuse(w http.ResponseWriter, e *requestError) (int, any) {
	w.Header().Set("Connection", "close")
	resp := &ErrorResponse{Error: e.msg, Line: e.line}
	if e.offset >= 0 && e.code == http.StatusBadRequest {
		off := e.offset
		resp.Offset = &off
	}
	return e.code, resp
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// quote repeats a client's value in an answer, bounded.
func quote(s string) string { return strconv.Quote(truncate(s)) }
