package tracker

import "github.com/covoiturage-exporter/covoiturage_exporter/registry"

// Other is the label value every unexpected registry value is folded into,
// so a new status or label never mints new series.
const Other = "other"

// Pseudo-statuses a tracked journey can have besides the registry's own:
// registered but not checked yet, and unknown to the registry (404).
const (
	StatusUnchecked = "unchecked"
	StatusNotFound  = "not_found"
)

// Vocabulary is a bounded set of label values: the known ones, then Other.
type Vocabulary struct {
	names []string
	index map[string]uint8
}

func newVocabulary(known ...[]string) *Vocabulary {
	v := &Vocabulary{index: map[string]uint8{}}
	for _, list := range known {
		for _, name := range list {
			if _, dup := v.index[name]; !dup {
				v.index[name] = uint8(len(v.names))
				v.names = append(v.names, name)
			}
		}
	}
	v.index[Other] = uint8(len(v.names))
	v.names = append(v.names, Other)
	return v
}

// Names lists every value, Other last. Callers must not modify it.
func (v *Vocabulary) Names() []string { return v.names }

// Len is the number of values, Other included.
func (v *Vocabulary) Len() int { return len(v.names) }

// Index returns the position of name, or Other's for anything unknown.
func (v *Vocabulary) Index(name string) uint8 {
	if i, ok := v.index[name]; ok {
		return i
	}
	return uint8(len(v.names) - 1)
}

// mask folds names into a bit set of their indexes.
func (v *Vocabulary) mask(names []string) uint8 {
	var m uint8
	for _, n := range names {
		m |= 1 << v.Index(n)
	}
	return m
}

// The vocabularies of the metrics' label values. Statuses hold the v3
// values, the extra v2 ones and the two pseudo-statuses.
var (
	Statuses      = newVocabulary(registry.Statuses, registry.StatusesV2, []string{StatusUnchecked, StatusNotFound})
	FraudLabels   = newVocabulary(registry.FraudLabels)
	AnomalyLabels = newVocabulary(registry.AnomalyLabels)
	TermsReasons  = newVocabulary(registry.TermsReasons)
)

func init() {
	// Label sets are uint8 bit sets and statuses a uint16 bit set.
	for _, v := range []*Vocabulary{FraudLabels, AnomalyLabels, TermsReasons} {
		if v.Len() > 8 {
			panic("tracker: a label vocabulary outgrew its uint8 bit set")
		}
	}
	if Statuses.Len() > 16 {
		panic("tracker: the status vocabulary outgrew its uint16 bit set")
	}
}

// Source is where a journey's registration came from.
type Source uint8

// Sources of registrations. The values are stored on disk: append, never
// reorder.
const (
	SourceConfig    Source = iota // ids in the configuration
	SourceDemo                    // the demo's operator
	SourcePush                    // the push endpoint
	SourceDiscovery               // the registry's list endpoint
	SourceProxy                   // the submission proxy
	numSources
)

// SourceNames are the source label values, indexed by Source.
var SourceNames = [numSources]string{"config", "demo", "push", "discovery", "proxy"}

func (s Source) String() string {
	if s < numSources {
		return SourceNames[s]
	}
	return Other
}
