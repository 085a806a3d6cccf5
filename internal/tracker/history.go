package tracker

import (
	"encoding/binary"
	"time"
)

// MaxTransitions bounds the story kept of one journey: a journey whose
// labels flip back and forth for weeks costs no more than this. A journey
// usually has two or three (pending, then its decision).
const MaxTransitions = 16

// Transition is one change of a journey the exporter saw: the status,
// labels and reasons it had from At on.
type Transition struct {
	At            time.Time `json:"at"`
	Status        string    `json:"status"`
	FraudLabels   []string  `json:"fraud_labels,omitempty"`
	AnomalyLabels []string  `json:"anomaly_labels,omitempty"`
	TermsReasons  []string  `json:"terms_violations,omitempty"`
}

// transition is a Transition in this release's vocabulary indexes.
type transition struct {
	at                            int64
	status, fraud, anomaly, terms uint8
}

// A journey's history is a string of encoded transitions, oldest first,
// each: the zigzag uvarint of its offset in seconds from the journey's
// registration, then status, fraud, anomaly and terms as one byte each.
// A string, not a slice: 16 bytes in the journey, and a journey with no
// change since its registration (most, at any time) costs nothing more.
// The registration itself is not stored: it is always "unchecked at
// registered".

func appendTransition(b []byte, registered int64, tr transition) []byte {
	d := tr.at - registered
	b = binary.AppendUvarint(b, uint64(d<<1)^uint64(d>>63))
	return append(b, tr.status, tr.fraud, tr.anomaly, tr.terms)
}

// readTransition reads the first transition of h and returns the rest;
// ok is false on a truncated entry.
func readTransition(h string, registered int64) (tr transition, rest string, ok bool) {
	var u uint64
	var s uint
	for i := 0; i < len(h) && i < binary.MaxVarintLen64; i++ {
		c := h[i]
		if c < 0x80 {
			u |= uint64(c) << s
			h = h[i+1:]
			if len(h) < 4 {
				return transition{}, "", false
			}
			off := int64(u>>1) ^ -int64(u&1)
			tr = transition{at: registered + off, status: h[0], fraud: h[1], anomaly: h[2], terms: h[3]}
			return tr, h[4:], true
		}
		u |= uint64(c&0x7f) << s
		s += 7
	}
	return transition{}, "", false
}

// addTransition appends tr to the journey's history, dropping the oldest
// beyond MaxTransitions.
func (j *journey) addTransition(tr transition) {
	h := j.history
	n := 0
	for rest := h; rest != ""; n++ {
		var ok bool
		if _, rest, ok = readTransition(rest, j.registered); !ok {
			h, n = "", 0 // cannot happen: decode checks stored histories
			break
		}
	}
	if n >= MaxTransitions {
		_, h, _ = readTransition(h, j.registered)
		j.flags |= flagHistoryCut
	}
	j.history = string(appendTransition([]byte(h), j.registered, tr))
}

// transitions is the journey's story for Journey: its registration, then
// each stored transition.
func (j *journey) transitions() []Transition {
	out := make([]Transition, 0, 3)
	if j.flags&flagHistoryCut == 0 {
		out = append(out, Transition{At: time.Unix(j.registered, 0), Status: StatusUnchecked})
	}
	for rest := j.history; rest != ""; {
		tr, r, ok := readTransition(rest, j.registered)
		if !ok {
			break
		}
		rest = r
		out = append(out, Transition{
			At: time.Unix(tr.at, 0), Status: Statuses.names[min(int(tr.status), Statuses.Len()-1)],
			FraudLabels: maskNames(FraudLabels, tr.fraud), AnomalyLabels: maskNames(AnomalyLabels, tr.anomaly),
			TermsReasons: maskNames(TermsReasons, tr.terms),
		})
	}
	return out
}

// lastChange is when the journey took its current state: its latest
// transition, or its registration.
func (j *journey) lastChange() int64 {
	at := j.registered
	for rest := j.history; rest != ""; {
		tr, r, ok := readTransition(rest, j.registered)
		if !ok {
			break
		}
		at, rest = tr.at, r
	}
	return at
}
