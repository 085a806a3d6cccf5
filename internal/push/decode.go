package push

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/starts"
	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
)

// format is how a body lists its journeys.
type format int

const (
	formatJSON   format = iota // one object, or an array of objects
	formatNDJSON               // one object a line
)

// formatOf reads a Content-Type. JSON is UTF-8 by definition: another
// charset is refused rather than misread.
func formatOf(contentType string) (format, bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return 0, false
	}
	switch mt {
	case "application/json":
		return formatJSON, true
	case "application/x-ndjson", "application/jsonl":
		return formatNDJSON, true
	}
	return 0, false
}

// record is one pushed journey. Other fields are ignored, so that an
// operator can post the very records it submitted to the registry.
type record struct {
	OperatorJourneyID *string   `json:"operator_journey_id"`
	JourneyID         journeyID `json:"journey_id"`
	Start             startTime `json:"start"`
}

// fieldError is an item's field the endpoint cannot use; the item is
// rejected, the rest of the request goes on.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// journeyID is the v2 registry's own id, which v2 clients hold as a number
// as often as a string.
type journeyID struct {
	value string
	set   bool
}

func (j *journeyID) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil
	case b[0] == '"':
		s, err := unquote(b)
		if err != nil {
			return err
		}
		*j = journeyID{s, true}
	case isDigits(b):
		*j = journeyID{string(b), true}
	default:
		// 1e3 or 12.0 would pass for another id than the one meant.
		return &fieldError{"journey_id", "want a string or an integer written with digits only"}
	}
	return nil
}

// unquote reads a JSON string the decoder has checked. Most have nothing
// to unescape: slicing them spares a json.Unmarshal per field.
func unquote(b []byte) (string, error) {
	inner := b[1 : len(b)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// startTime is when the journey started: an RFC 3339 string, or the
// {"datetime", "lat", "lon"} start of a v3 submission. Its bounds are
// checked once the registry's time is known (check).
type startTime struct {
	t          time.Time
	field, raw string // where it was and as sent, for the rejection
}

const startExample = "e.g. 2026-11-20T08:15:00Z"

func (s *startTime) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		return nil
	case '"':
		v, err := unquote(b)
		if err != nil {
			return err
		}
		return s.parse("start", v)
	case '{':
		var point struct {
			Datetime json.RawMessage `json:"datetime"`
		}
		var datetime *string
		if err := json.Unmarshal(b, &point); err == nil && point.Datetime != nil {
			err = json.Unmarshal(point.Datetime, &datetime)
			if err != nil {
				return &fieldError{"start.datetime", "want an RFC 3339 string (" + startExample + ")"}
			}
		}
		switch {
		case point.Datetime == nil:
			return &fieldError{"start", "an object without datetime"}
		case datetime == nil: // null, as a start of null
			return nil
		}
		return s.parse("start.datetime", *datetime)
	}
	return &fieldError{"start", "want an RFC 3339 time (" + startExample + ")"}
}

func (s *startTime) parse(field, v string) error {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return &fieldError{field, fmt.Sprintf("%q is not an RFC 3339 time (%s)", truncate(v), startExample)}
	}
	*s = startTime{t: t, field: field, raw: v}
	return nil
}

// check bounds a start given at now, the registry's time (starts.Check).
func (s *startTime) check(now time.Time) error {
	if s.t.IsZero() {
		return nil
	}
	if err := starts.Check(s.t, now); err != nil {
		return &fieldError{s.field, fmt.Sprintf("%q is %v", truncate(s.raw), err)}
	}
	return nil
}

// itemError tells whether err, from decoding one item, is that item's
// fault only (its value was read whole), and why.
func itemError(err error) (string, bool) {
	var fe *fieldError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &fe):
		return fe.Error(), true
	case errors.As(err, &te):
		if te.Field == "" {
			return "want an object with operator_journey_id (or journey_id), got a JSON " + te.Value, true
		}
		return fmt.Sprintf("%s: want a string, got a JSON %s", te.Field, te.Value), true
	}
	return "", false
}

// requestError is a request the endpoint does not process: nothing of it
// is registered.
type requestError struct {
	code   int
	msg    string
	line   int   // NDJSON: the line at fault, from 1
	offset int64 // bytes read when the fault was found, the faulty one last; -1 when none
}

// batch is a decoded request: the registrations to make and the items
// rejected, every item validated.
type batch struct {
	regs          []tracker.Registration
	rejected      []Rejection // the first maxRejectedListed
	rejectedCount int
}

// decoder reads one request's body into a batch.
type decoder struct {
	canonical func(id string) (string, error)
	now       time.Time // the registry's, bounding the starts
	maxItems  int
	maxBody   int64
	batch
}

const (
	// maxRejectedListed bounds the answer to a batch of garbage.
	maxRejectedListed = 100
	// maxEcho bounds what an answer repeats of an id or a value.
	maxEcho = 64
	// maxReason bounds a rejection's reason, whatever the validator says.
	maxReason = 256
)

var bom = []byte("\xef\xbb\xbf")

// add validates one item and files it.
func (d *decoder) add(index, line int, rec *record, decodeErr error) {
	var opID string
	if rec.OperatorJourneyID != nil {
		opID = *rec.OperatorJourneyID
	}
	var reason string
	if decodeErr == nil {
		decodeErr = rec.Start.check(d.now)
	}
	switch {
	case decodeErr != nil:
		reason, _ = itemError(decodeErr)
	case rec.OperatorJourneyID != nil && rec.JourneyID.set && opID != rec.JourneyID.value:
		reason = "operator_journey_id and journey_id differ: send one (journey_id for a v2 registry)"
	case rec.OperatorJourneyID == nil && !rec.JourneyID.set:
		reason = "missing operator_journey_id (journey_id for a v2 registry)"
	default:
		id := opID
		if rec.OperatorJourneyID == nil {
			id = rec.JourneyID.value
		}
		id, err := d.canonical(id)
		if err != nil {
			reason = err.Error()
			break
		}
		d.regs = append(d.regs, tracker.Registration{ID: id, Source: tracker.SourcePush, Start: rec.Start.t})
		return
	}
	d.rejectedCount++
	if len(d.rejected) < maxRejectedListed {
		d.rejected = append(d.rejected, Rejection{
			Index: index, Line: line,
			OperatorJourneyID: truncate(opID), JourneyID: truncate(rec.JourneyID.value),
			Error: truncateTo(reason, maxReason),
		})
	}
}

func (d *decoder) tooMany() *requestError {
	return &requestError{code: http.StatusRequestEntityTooLarge, offset: -1,
		msg: fmt.Sprintf("more than %d journeys in one request: split the batch", d.maxItems)}
}

// readError turns a failure to read the body into the request's answer.
// A syntax error's offset counts from base; at is where reading stopped.
func (d *decoder) readError(err error, base, at int64) *requestError {
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge), errors.Is(err, bufio.ErrTooLong):
		return &requestError{code: http.StatusRequestEntityTooLarge, offset: -1,
			msg: fmt.Sprintf("body over %d bytes: split the batch", d.maxBody)}
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return &requestError{code: http.StatusRequestTimeout, offset: -1, msg: "the body did not arrive in time"}
	case errors.As(err, &syntax):
		return &requestError{code: http.StatusBadRequest, offset: base + syntax.Offset,
			msg: fmt.Sprintf("malformed JSON at byte %d: %v", base+syntax.Offset, syntax)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &requestError{code: http.StatusBadRequest, offset: at,
			msg: fmt.Sprintf("the body ends in the middle of a JSON value, at byte %d", at)}
	}
	return &requestError{code: http.StatusBadRequest, offset: -1, msg: "reading the body: " + err.Error()}
}

// decodeJSON reads one object or an array of objects, and nothing after.
// The array's punctuation is read here and each item handed whole to
// json.Unmarshal: a json.Decoder reports a syntax error's offset counted
// from somewhere inside the stream, not from the body's first byte.
func (d *decoder) decodeJSON(body io.Reader) *requestError {
	s := &splitter{br: bufio.NewReader(body)}
	if b, err := s.br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		_, _ = s.br.Discard(len(bom))
		s.off += int64(len(bom))
	}
	first, err := s.nextNonSpace()
	if errors.Is(err, io.EOF) {
		return &requestError{code: http.StatusBadRequest, offset: -1,
			msg: "empty body: want a JSON object or an array of objects"}
	}
	if err != nil {
		return d.readError(err, 0, s.off)
	}
	switch first {
	case '[':
		c, err := s.nextNonSpace()
		for index := 0; err == nil && c != ']'; index++ {
			if index == d.maxItems {
				return d.tooMany()
			}
			if fail := d.item(s, c, index); fail != nil {
				return fail
			}
			if c, err = s.nextNonSpace(); err == nil && c == ',' {
				if c, err = s.nextNonSpace(); err == nil && c == ']' {
					return &requestError{code: http.StatusBadRequest, offset: s.off,
						msg: fmt.Sprintf("malformed JSON at byte %d: want an item after the comma, got ]", s.off)}
				}
			} else if err == nil && c != ']' {
				return &requestError{code: http.StatusBadRequest, offset: s.off,
					msg: fmt.Sprintf("malformed JSON at byte %d: want , or ] after item %d, got %q", s.off, index, c)}
			}
		}
		if err != nil {
			return d.readError(err, 0, s.off)
		}
	case '{':
		if fail := d.item(s, first, 0); fail != nil {
			return fail
		}
	default:
		return &requestError{code: http.StatusBadRequest, offset: s.off,
			msg: fmt.Sprintf("want a JSON object or an array of objects, got %q at byte %d", first, s.off)}
	}
	// Several values in a row is NDJSON sent as application/json: say so
	// rather than take the first and drop the rest.
	c, err := s.nextNonSpace()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return d.readError(err, 0, s.off)
	}
	return &requestError{code: http.StatusBadRequest, offset: s.off,
		msg: fmt.Sprintf("unexpected %q after the JSON value, at byte %d: send one object, an array, or one object a line as application/x-ndjson", c, s.off)}
}

// item reads the array item or object that starts with first, and files it.
func (d *decoder) item(s *splitter, first byte, index int) *requestError {
	start := s.off - 1
	raw, err := s.value(first)
	if err != nil {
		return d.readError(err, 0, s.off)
	}
	var rec record
	err = json.Unmarshal(raw, &rec)
	if _, ok := itemError(err); err != nil && !ok {
		return d.readError(err, start, s.off)
	}
	d.add(index, 0, &rec, err)
	return nil
}

// splitter cuts a JSON body into its top-level punctuation and values,
// counting the bytes it reads.
type splitter struct {
	br  *bufio.Reader
	off int64 // bytes read
	buf []byte
}

func (s *splitter) readByte() (byte, error) {
	c, err := s.br.ReadByte()
	if err == nil {
		s.off++
	}
	return c, err
}

func (s *splitter) nextNonSpace() (byte, error) {
	for {
		c, err := s.readByte()
		if err != nil || !isSpace(c) {
			return c, err
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// value reads the rest of the value that starts with first. It only
// finds where the value ends; json.Unmarshal checks it.
func (s *splitter) value(first byte) ([]byte, error) {
	s.buf = append(s.buf[:0], first)
	inString := first == '"'
	depth := 0
	if first == '{' || first == '[' {
		depth = 1
	}
	escaped := false
	for inString || depth > 0 {
		c, err := s.readByte()
		if err != nil {
			return nil, noEOF(err)
		}
		s.buf = append(s.buf, c)
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	if first == '{' || first == '[' || first == '"' {
		return s.buf, nil
	}
	// A number or a literal ends where punctuation or space starts.
	for {
		c, err := s.br.ReadByte()
		if errors.Is(err, io.EOF) {
			return s.buf, nil
		}
		if err != nil {
			return nil, err
		}
		if isSpace(c) || c == ',' || c == ']' || c == '}' {
			_ = s.br.UnreadByte()
			return s.buf, nil
		}
		s.off++
		s.buf = append(s.buf, c)
	}
}

// noEOF says a body that ends inside a value ended early.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// decodeNDJSON reads one object a line; blank lines are skipped.
func (d *decoder) decodeNDJSON(body io.Reader) *requestError {
	// A Scanner hands out what it holds before it reports a read error:
	// the last line would be a piece of one.
	src := &errorReader{r: body}
	sc := bufio.NewScanner(src)
	maxLine := d.maxBody + 1
	if maxLine <= 0 || maxLine > 1<<30 {
		maxLine = 1 << 30
	}
	sc.Buffer(make([]byte, 0, 4096), int(maxLine))
	var offset int64 // of the current line
	index := 0
	var rec record
	for lineNo := 1; sc.Scan(); lineNo++ {
		if src.err != nil {
			break
		}
		raw := sc.Bytes()
		lineStart := offset
		offset += int64(len(raw)) + 1
		if lineNo == 1 {
			if trimmed, ok := bytes.CutPrefix(raw, bom); ok {
				raw = trimmed
				lineStart += int64(len(bom))
			}
		}
		line := bytes.TrimLeft(raw, " \t\r")
		lineStart += int64(len(raw) - len(line))
		line = bytes.TrimRight(line, " \t\r")
		if len(line) == 0 {
			continue
		}
		if index == d.maxItems {
			return d.tooMany()
		}
		rec = record{}
		err := json.Unmarshal(line, &rec)
		if _, ok := itemError(err); err != nil && !ok {
			if syntax, ok := errors.AsType[*json.SyntaxError](err); ok {
				return &requestError{code: http.StatusBadRequest, line: lineNo, offset: lineStart + syntax.Offset,
					msg: fmt.Sprintf("malformed JSON on line %d at column %d: %v", lineNo, syntax.Offset, syntax)}
			}
			return &requestError{code: http.StatusBadRequest, line: lineNo, offset: lineStart,
				msg: fmt.Sprintf("line %d: %v", lineNo, err)}
		}
		d.add(index, lineNo, &rec, err)
		index++
	}
	if err := cmp.Or(src.err, sc.Err()); err != nil {
		return d.readError(err, 0, offset)
	}
	return nil
}

// errorReader keeps the first error other than EOF its reader returned.
type errorReader struct {
	r   io.Reader
	err error
}

func (e *errorReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// truncate bounds what an answer repeats of a client's value.
func truncate(s string) string { return truncateTo(s, maxEcho) }

func truncateTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
