package simulator

import (
	"slices"
	"strconv"
	"time"
)

// interopTrip is a journey declared at another operator. The registry
// compares against those for its inter-operator fraud checks; the simulator
// only knows the ones the traffic generator invents.
type interopTrip struct {
	identityKey string
	operatorID  int
	start, end  time.Time
}

// store holds every journey. It is not safe for concurrent use: the
// Simulator's mutex guards it.
type store struct {
	byID      map[string]*record // operatorID/operator_journey_id
	byNumber  map[int64]*record
	byKey     map[string][]*record // operatorID/identity key
	interop   map[string][]interopTrip
	pending   []*record // not yet normalised, in submission order
	unchecked map[*record]struct{}
	nextID    int64
}

func newStore() *store {
	return &store{
		byID:      map[string]*record{},
		byNumber:  map[int64]*record{},
		byKey:     map[string][]*record{},
		interop:   map[string][]interopTrip{},
		unchecked: map[*record]struct{}{},
		nextID:    100000,
	}
}

func idKey(operatorID int, id string) string { return strconv.Itoa(operatorID) + "/" + id }

func (st *store) get(operatorID int, id string) (*record, bool) {
	r, ok := st.byID[idKey(operatorID, id)]
	return r, ok
}

// find looks a journey up by operator_journey_id whatever its operator,
// preferring the lowest operator id so answers are stable.
func (st *store) find(id string) (*record, bool) {
	var best *record
	for _, r := range st.byID {
		if r.OperatorJourneyID == id && (best == nil || r.OperatorID < best.OperatorID) {
			best = r
		}
	}
	return best, best != nil
}

// add stores r, replacing any journey with the same operator and id.
func (st *store) add(r *record) {
	if old, ok := st.byID[idKey(r.OperatorID, r.OperatorJourneyID)]; ok {
		st.remove(old)
	}
	if r.JourneyID == 0 {
		st.nextID++
		r.JourneyID = st.nextID
	} else if r.JourneyID > st.nextID {
		st.nextID = r.JourneyID
	}
	if other, ok := st.byNumber[r.JourneyID]; ok {
		st.remove(other)
	}
	st.byID[idKey(r.OperatorID, r.OperatorJourneyID)] = r
	st.byNumber[r.JourneyID] = r
	for _, k := range r.keys() {
		key := idKey(r.OperatorID, k)
		st.byKey[key] = append(st.byKey[key], r)
	}
	if !r.normalised {
		st.pending = append(st.pending, r)
	}
	if !r.checked {
		st.unchecked[r] = struct{}{}
	}
}

func (st *store) remove(r *record) {
	delete(st.byID, idKey(r.OperatorID, r.OperatorJourneyID))
	if st.byNumber[r.JourneyID] == r {
		delete(st.byNumber, r.JourneyID)
	}
	for _, k := range r.keys() {
		key := idKey(r.OperatorID, k)
		list := slices.DeleteFunc(st.byKey[key], func(o *record) bool { return o == r })
		if len(list) == 0 {
			delete(st.byKey, key)
		} else {
			st.byKey[key] = list
		}
	}
	st.pending = slices.DeleteFunc(st.pending, func(o *record) bool { return o == r })
	delete(st.unchecked, r)
}

// sameIdentity returns the operator's other journeys sharing an identity
// key with j, each once.
func (st *store) sameIdentity(j Journey) []*record {
	var out []*record
	for _, k := range j.keys() {
		for _, r := range st.byKey[idKey(j.OperatorID, k)] {
			if r.OperatorJourneyID != j.OperatorJourneyID && !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

func (st *store) addInterop(t interopTrip) {
	st.interop[t.identityKey] = append(st.interop[t.identityKey], t)
}

// purge forgets journeys and inter-operator trips that started before cutoff.
func (st *store) purge(cutoff time.Time) {
	for _, r := range st.byID {
		if r.StartAt.Before(cutoff) {
			st.remove(r)
		}
	}
	for k, trips := range st.interop {
		trips = slices.DeleteFunc(trips, func(t interopTrip) bool { return t.start.Before(cutoff) })
		if len(trips) == 0 {
			delete(st.interop, k)
		} else {
			st.interop[k] = trips
		}
	}
}
