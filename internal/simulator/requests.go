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
	limit   int
	records []RequestRecord
}

func newRequestLog(limit int) *requestLog { return &requestLog{limit: limit} }

func (l *requestLog) add(r RequestRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.records) >= l.limit {
		n := copy(l.records, l.records[len(l.records)-l.limit/2:])
		l.records = l.records[:n]
	}
	l.records = append(l.records, r)
}

func (l *requestLog) snapshot() []RequestRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]RequestRecord(nil), l.records...)
}
