package scheduler

import (
	"slices"
	"time"
)

// CounterTotals are a registry's Counters, by label value, as a store
// keeps them: a restart must not reset them.
type CounterTotals struct {
	Outcomes          map[string]uint64 `json:"outcomes,omitempty"`
	CertificateChecks map[string]uint64 `json:"certificate_checks,omitempty"`
	// ListVerdicts were added without a format change: a release that
	// does not know them ignores them.
	ListVerdicts map[string]uint64 `json:"list_verdicts,omitempty"`
	// LastSuccess is the wall time of the last answered check; zero if
	// none.
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// Totals returns the counters' current values.
func (c *Counters) Totals() CounterTotals {
	out := CounterTotals{}
	for i := range c.outcomes {
		if v := c.outcomes[i].Load(); v != 0 {
			if out.Outcomes == nil {
				out.Outcomes = map[string]uint64{}
			}
			out.Outcomes[OutcomeNames[i]] = v
		}
	}
	for i := range c.certChecks {
		if v := c.certChecks[i].Load(); v != 0 {
			if out.CertificateChecks == nil {
				out.CertificateChecks = map[string]uint64{}
			}
			out.CertificateChecks[CertificateResults[i]] = v
		}
	}
	for i := range c.listVerdicts {
		if v := c.listVerdicts[i].Load(); v != 0 {
			if out.ListVerdicts == nil {
				out.ListVerdicts = map[string]uint64{}
			}
			out.ListVerdicts[ListVerdictNames[i]] = v
		}
	}
	if ns := c.lastSuccess.Load(); ns != 0 {
		out.LastSuccess = time.Unix(0, ns)
	}
	return out
}

// Restore adds stored totals to the counters, before the scheduler runs.
// An outcome this release does not know is counted as error, a
// certificate result as other, a list verdict as unchanged (the status
// this release knows of the journey stood): totals never go down.
func (c *Counters) Restore(t CounterTotals) {
	for name, v := range t.Outcomes {
		c.outcomes[nameIndex(OutcomeNames[:], name, int(OutcomeError))].Add(v)
	}
	for name, v := range t.CertificateChecks {
		c.certChecks[nameIndex(CertificateResults, name, certOther)].Add(v)
	}
	for name, v := range t.ListVerdicts {
		c.listVerdicts[nameIndex(ListVerdictNames[:], name, int(ListVerdictUnchanged))].Add(v)
	}
	if !t.LastSuccess.IsZero() {
		ns := t.LastSuccess.UnixNano()
		for {
			cur := c.lastSuccess.Load()
			if cur >= ns || c.lastSuccess.CompareAndSwap(cur, ns) {
				break
			}
		}
	}
}

// nameIndex is the index of name among a label's values, or fallback for
// a value this release does not know.
func nameIndex(names []string, name string, fallback int) int {
	if i := slices.Index(names, name); i >= 0 {
		return i
	}
	return fallback
}
