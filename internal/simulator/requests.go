package simulator

import (
	"sync"
	"time"
)

const maxRequestLog = 100000

// RequestRecord describes one answered API request.
type RequestRecord struct {
	Time             time.Time // wall clock, when the answer was written
	Method           string
	Path             string
	Group            string // status, submit, token, other, or "" when unrouted
	Status           int
	ClientIP         string
	HasAuthorization bool
}

// requestLog keeps the most recent answers, dropping the oldest so a
// long-running simulator stays bounded.
type requestLog struct {
	mu      sync.Mutex
	max     int
	records []RequestRecord
}

func newRequestLog(max int) *requestLog { return &requestLog{max: max} }

func (l *requestLog) add(r RequestRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.records) >= l.max {
		n := copy(l.records, l.records[len(l.records)-l.max/2:])
		l.records = l.records[:n]
	}
	l.records = append(l.records, r)
}

func (l *requestLog) snapshot() []RequestRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RequestRecord(nil), l.records...)
}
