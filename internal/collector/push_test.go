package collector

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// A declared registry has its series at 0; codes outside HTTP's range
// fold into "0"; Forget deletes one registry's series and leaves the
// others'.
func TestPushMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	m := NewPushMetrics(reg)
	m.Declare("prod")
	m.Declare("demo")
	m.Request("prod", 200)
	m.Request("prod", 200)
	m.Request("prod", 413)
	m.Request("", 404)
	m.Request("demo", 1000)
	m.Journeys("prod", 3, 1, 2)
	m.Journeys("prod", 0, 4, 0)

	want := `
# HELP covoiturage_push_journeys_total Journeys in the push requests that were processed (answered 200), by result: new (now followed), already_tracked, rejected (invalid, the answer says why).
# TYPE covoiturage_push_journeys_total counter
covoiturage_push_journeys_total{registry="demo",result="already_tracked"} 0
covoiturage_push_journeys_total{registry="demo",result="new"} 0
covoiturage_push_journeys_total{registry="demo",result="rejected"} 0
covoiturage_push_journeys_total{registry="prod",result="already_tracked"} 5
covoiturage_push_journeys_total{registry="prod",result="new"} 3
covoiturage_push_journeys_total{registry="prod",result="rejected"} 2
# HELP covoiturage_push_requests_total Requests to the push endpoint, by HTTP status code answered. The registry label is empty for a registry the configuration does not name.
# TYPE covoiturage_push_requests_total counter
covoiturage_push_requests_total{code="0",registry="demo"} 1
covoiturage_push_requests_total{code="200",registry="demo"} 0
covoiturage_push_requests_total{code="200",registry="prod"} 2
covoiturage_push_requests_total{code="404",registry=""} 1
covoiturage_push_requests_total{code="413",registry="prod"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	promtoolCheckMetrics(t, reg)

	m.Forget("prod")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "registry" && l.GetValue() == "prod" {
					t.Errorf("%s{registry=prod} survived Forget", f.GetName())
				}
			}
		}
	}
	if n := testutil.CollectAndCount(m.journeys); n != len(PushResults) {
		t.Errorf("%d journey series after forgetting prod, want demo's %d", n, len(PushResults))
	}
}

// The endpoint runs without metrics: every method takes a nil receiver.
func TestPushMetricsNil(t *testing.T) {
	t.Parallel()
	var m *PushMetrics
	m.Declare("prod")
	m.Request("prod", 200)
	m.Journeys("prod", 1, 2, 3)
	m.Forget("prod")
}

// promtoolCheckMetrics lints reg's exposition with `promtool check
// metrics`, which prints one line per problem.
func promtoolCheckMetrics(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not on PATH: run `make setup` (scripts/setup.sh installs Debian's prometheus package, which provides it)")
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exposition bytes.Buffer
	enc := expfmt.NewEncoder(&exposition, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &exposition
	out, err := cmd.CombinedOutput()
	for line := range strings.SplitSeq(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			t.Errorf("promtool check metrics: %s", line)
		}
	}
	if err != nil {
		t.Errorf("promtool check metrics: %v", err)
	}
}
