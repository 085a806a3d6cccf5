package tracker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// A journey is stored as a compact record keyed by its id:
//
//	version  byte     recordVersion
//	gen      uvarint  the vocabulary generation its indexes refer to
//	registered varint Unix seconds
//	start, createdAt, lastCheck, due: uvarint, 0 when unknown, else the
//	         zigzag of the offset from registered, plus 1: offsets are a
//	         few days, so each takes 1 to 4 bytes instead of 5
//	seenStatus uvarint
//	status, fraud, anomaly, terms, seenFraud, seenAnomaly, seenTerms,
//	source, checks, misses, flags: one byte each
//	rebatch  uvarint, since version 3: when a PATCH restarted the
//	         registry's checks (journey.rebatch); a journey without one is
//	         written as version 2, which the releases before read
//	history  uvarint length, then the transitions (history.go), in the
//	         record's vocabulary generation; since version 2
//
// About 40 bytes for a checked journey. Its place in the due queue and
// its registration order are not stored: the queue is rebuilt from the
// due times, the order from the registration times.
const recordVersion = 2

// recordVersion3 records carry a rebatch time.
const recordVersion3 = 3

// recordVersion1 records, written before transitions were kept, are read
// with an empty history.
const recordVersion1 = 1

// storedFlags are the flags a record may carry. A flag added to the
// journey is lost at every restart until it is added here, and a record
// carrying it reads as corrupt to the releases before: bump
// recordVersion with it.
const storedFlags = flagSkipped | flagExpiring | flagSettled | flagOverdue | flagHistoryCut

// storedFlagsV1 are those version 1 records may carry.
const storedFlagsV1 = flagSkipped | flagExpiring | flagSettled | flagOverdue

func appendRecord(b []byte, gen uint64, j *journey) []byte {
	version := byte(recordVersion)
	if j.rebatch != 0 {
		version = recordVersion3
	}
	b = append(b, version)
	b = binary.AppendUvarint(b, gen)
	b = binary.AppendVarint(b, j.registered)
	for _, v := range [...]int64{j.start, j.createdAt, j.lastCheck, j.due} {
		b = appendOffset(b, v, j.registered)
	}
	b = binary.AppendUvarint(b, uint64(j.seenStatus))
	b = append(b, j.status, j.fraud, j.anomaly, j.terms, j.seenFraud, j.seenAnomaly, j.seenTerms,
		uint8(j.source), j.checks, j.misses, j.flags&storedFlags)
	if j.rebatch != 0 {
		b = binary.AppendUvarint(b, uint64(j.rebatch))
	}
	b = binary.AppendUvarint(b, uint64(len(j.history)))
	return append(b, j.history...)
}

func appendOffset(b []byte, v, base int64) []byte {
	if v == 0 {
		return append(b, 0)
	}
	d := v - base
	return binary.AppendUvarint(b, (uint64(d<<1)^uint64(d>>63))+1)
}

// Vocabularies are the label values a record's indexes and bit sets refer
// to. They are stored beside the records, so that a release that adds or
// drops a status, a label or a source still reads the records of an older
// one: indexes are mapped by name.
type Vocabularies struct {
	Statuses      []string `json:"statuses"`
	FraudLabels   []string `json:"fraud_labels"`
	AnomalyLabels []string `json:"anomaly_labels"`
	TermsReasons  []string `json:"terms_reasons"`
	Sources       []string `json:"sources"`
}

// CurrentVocabularies are this release's.
func CurrentVocabularies() Vocabularies {
	return Vocabularies{
		Statuses: slices.Clone(Statuses.names), FraudLabels: slices.Clone(FraudLabels.names),
		AnomalyLabels: slices.Clone(AnomalyLabels.names), TermsReasons: slices.Clone(TermsReasons.names),
		Sources: slices.Clone(SourceNames[:]),
	}
}

// Equal tells whether v and w name the same values in the same order.
func (v Vocabularies) Equal(w Vocabularies) bool {
	return slices.Equal(v.Statuses, w.Statuses) && slices.Equal(v.FraudLabels, w.FraudLabels) &&
		slices.Equal(v.AnomalyLabels, w.AnomalyLabels) && slices.Equal(v.TermsReasons, w.TermsReasons) &&
		slices.Equal(v.Sources, w.Sources)
}

// remap turns the indexes of one stored generation into this release's.
type remap struct {
	status                []uint8 // by stored index
	fraud, anomaly, terms []uint8 // bit position by stored bit position
	source                []Source
	statusAll             uint16 // the stored bits that exist
	fraudAll, anomalyAll  uint8
	termsAll              uint8
	statusID, fraudID     bool // the mapping is the identity: bit sets are kept as they are
	anomalyID, termsID    bool
}

// Decoder reads records written under any of a registry's vocabulary
// generations.
type Decoder struct {
	gens map[uint64]*remap
}

// NewDecoder returns a decoder for records written under gens. A
// generation whose vocabularies could not have been written (more values
// than its bit sets hold) is left out: its records read as corrupt.
func NewDecoder(gens map[uint64]Vocabularies) *Decoder {
	d := &Decoder{gens: map[uint64]*remap{}}
	for g, v := range gens {
		if m, ok := newRemap(v); ok {
			d.gens[g] = m
		}
	}
	return d
}

func newRemap(v Vocabularies) (*remap, bool) {
	if len(v.Statuses) > 16 || len(v.FraudLabels) > 8 || len(v.AnomalyLabels) > 8 || len(v.TermsReasons) > 8 || len(v.Sources) > 256 {
		return nil, false
	}
	m := &remap{}
	m.status, m.statusID = indexes(v.Statuses, Statuses)
	m.fraud, m.fraudID = indexes(v.FraudLabels, FraudLabels)
	m.anomaly, m.anomalyID = indexes(v.AnomalyLabels, AnomalyLabels)
	m.terms, m.termsID = indexes(v.TermsReasons, TermsReasons)
	m.statusAll = uint16(1)<<len(v.Statuses) - 1
	m.fraudAll = uint8(uint16(1)<<len(v.FraudLabels) - 1)
	m.anomalyAll = uint8(uint16(1)<<len(v.AnomalyLabels) - 1)
	m.termsAll = uint8(uint16(1)<<len(v.TermsReasons) - 1)
	for _, name := range v.Sources {
		m.source = append(m.source, sourceNamed(name))
	}
	return m, true
}

// indexes maps each stored name to this release's index, Other for a
// name it no longer knows.
func indexes(stored []string, v *Vocabulary) ([]uint8, bool) {
	out := make([]uint8, len(stored))
	same := true
	for i, name := range stored {
		out[i] = v.Index(name)
		same = same && out[i] == uint8(i)
	}
	return out, same
}

// sourceNamed is the source called name. A source this release does not
// know (written by a later one) is counted as config: sources have no
// other value, and the journey is worth keeping.
func sourceNamed(name string) Source {
	for i, n := range SourceNames {
		if n == name {
			return Source(i)
		}
	}
	return SourceConfig
}

// errCorrupt is every reason a record is refused; the store only counts
// them.
var errCorrupt = errors.New("corrupt journey record")

func corrupt(what string) error { return fmt.Errorf("%w: %s", errCorrupt, what) }

// decode reads a record into j, id and heap position left to the caller.
func (d *Decoder) decode(rec []byte, j *journey) error {
	if len(rec) == 0 || (rec[0] != recordVersion && rec[0] != recordVersion1 && rec[0] != recordVersion3) {
		return corrupt("unknown record version")
	}
	version := rec[0]
	rec = rec[1:]
	gen, n := binary.Uvarint(rec)
	if n <= 0 {
		return corrupt("truncated")
	}
	rec = rec[n:]
	m := d.gens[gen]
	if m == nil {
		return corrupt("unknown vocabulary generation")
	}
	registered, n := binary.Varint(rec)
	if n <= 0 {
		return corrupt("truncated")
	}
	rec = rec[n:]
	*j = journey{registered: registered, heapIdx: -1}
	for _, v := range [...]*int64{&j.start, &j.createdAt, &j.lastCheck, &j.due} {
		u, n := binary.Uvarint(rec)
		if n <= 0 {
			return corrupt("truncated")
		}
		rec = rec[n:]
		if u == 0 {
			continue
		}
		z := u - 1
		off := int64(z>>1) ^ -int64(z&1)
		sum := registered + off
		if (off > 0) != (sum > registered) || (off < 0) != (sum < registered) {
			return corrupt("time out of range")
		}
		*v = sum
	}
	seen, n := binary.Uvarint(rec)
	if n <= 0 || seen > uint64(m.statusAll) {
		return corrupt("seen statuses")
	}
	rec = rec[n:]
	var history []byte
	var rebatch uint64
	allowed := storedFlags
	switch {
	case version == recordVersion1 && len(rec) == 11:
		allowed = storedFlagsV1
	case version == recordVersion3 && len(rec) > 11:
		var n int
		rebatch, n = binary.Uvarint(rec[11:])
		if n <= 0 || rebatch == 0 || rebatch > math.MaxUint32 {
			return corrupt("rebatch")
		}
		size, m := binary.Uvarint(rec[11+n:])
		if m <= 0 || size != uint64(len(rec)-11-n-m) {
			return corrupt("history length")
		}
		history = rec[11+n+m:]
	case version == recordVersion && len(rec) > 11:
		size, n := binary.Uvarint(rec[11:])
		if n <= 0 || size != uint64(len(rec)-11-n) {
			return corrupt("history length")
		}
		history = rec[11+n:]
	default:
		return corrupt("length")
	}
	status, fraud, anomaly, terms := rec[0], rec[1], rec[2], rec[3]
	seenFraud, seenAnomaly, seenTerms := rec[4], rec[5], rec[6]
	source, flags := rec[7], rec[10]
	j.checks, j.misses = rec[8], rec[9]
	switch {
	case int(status) >= len(m.status), seen&(1<<status) == 0:
		return corrupt("status")
	case fraud&^m.fraudAll != 0, seenFraud&^m.fraudAll != 0, fraud&^seenFraud != 0:
		return corrupt("fraud labels")
	case anomaly&^m.anomalyAll != 0, seenAnomaly&^m.anomalyAll != 0, anomaly&^seenAnomaly != 0:
		return corrupt("anomaly labels")
	case terms&^m.termsAll != 0, seenTerms&^m.termsAll != 0, terms&^seenTerms != 0:
		return corrupt("terms reasons")
	case int(source) >= len(m.source):
		return corrupt("source")
	case flags&^allowed != 0:
		return corrupt("flags")
	}
	h, err := m.history(history, registered)
	if err != nil {
		return err
	}
	j.history = h
	j.status = m.status[status]
	j.seenStatus = remapBits(uint16(seen), m.status, m.statusID)
	j.fraud, j.seenFraud = remapBits(fraud, m.fraud, m.fraudID), remapBits(seenFraud, m.fraud, m.fraudID)
	j.anomaly, j.seenAnomaly = remapBits(anomaly, m.anomaly, m.anomalyID), remapBits(seenAnomaly, m.anomaly, m.anomalyID)
	j.terms, j.seenTerms = remapBits(terms, m.terms, m.termsID), remapBits(seenTerms, m.terms, m.termsID)
	j.source = m.source[source]
	j.flags = flags
	j.rebatch = uint32(rebatch)
	return nil
}

// remapBits moves each set bit i of b to bit to[i]: a stored bit set
// read with the vocabulary of this release.
func remapBits[T uint8 | uint16](b T, to []uint8, identity bool) T {
	if identity {
		return b
	}
	var out T
	for i, n := range to {
		if b&(1<<i) != 0 {
			out |= 1 << n
		}
	}
	return out
}

// maxOffset bounds a transition's distance from the registration, far
// beyond any retention: a damaged record never yields a time that cannot
// be written out.
const maxOffset = 100 * 366 * 24 * 3600

// history checks a stored history and maps it to this release's
// vocabularies.
func (m *remap) history(h []byte, registered int64) (string, error) {
	if len(h) == 0 {
		return "", nil
	}
	identity := m.statusID && m.fraudID && m.anomalyID && m.termsID
	var out []byte
	if !identity {
		out = make([]byte, 0, len(h))
	}
	n := 0
	for rest := string(h); rest != ""; n++ {
		tr, r, ok := readTransition(rest, registered)
		switch {
		case !ok || n == MaxTransitions, tr.at-registered > maxOffset || registered-tr.at > maxOffset:
			return "", corrupt("history")
		case int(tr.status) >= len(m.status), tr.fraud&^m.fraudAll != 0, tr.anomaly&^m.anomalyAll != 0, tr.terms&^m.termsAll != 0:
			return "", corrupt("history values")
		}
		rest = r
		if !identity {
			tr.status = m.status[tr.status]
			tr.fraud = remapBits(tr.fraud, m.fraud, m.fraudID)
			tr.anomaly = remapBits(tr.anomaly, m.anomaly, m.anomalyID)
			tr.terms = remapBits(tr.terms, m.terms, m.termsID)
			out = appendTransition(out, registered, tr)
		}
	}
	if identity {
		return string(h), nil
	}
	return string(out), nil
}
