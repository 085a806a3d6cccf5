package scheduler

import (
	"context"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/tracker"
	"github.com/covoiturage-exporter/covoiturage_exporter/registry"
)

// Checker asks the registry for one journey's status.
type Checker interface {
	Check(ctx context.Context, id string) (tracker.Result, error)
}

// V3 checks journeys by operator_journey_id on a v3.x API.
func V3(c *registry.Client) Checker { return v3{c} }

// V2 checks journeys by the registry's own journey_id on the v2 API (seed
// 000), whose statuses include expired and fraudcheck_error.
func V2(c *registry.Client) Checker { return v2{c} }

type v3 struct{ c *registry.Client }

func (v v3) Check(ctx context.Context, id string) (tracker.Result, error) {
	js, err := v.c.JourneyStatus(ctx, id)
	if err != nil {
		return tracker.Result{}, err
	}
	r := tracker.Result{Status: js.Status, CreatedAt: js.CreatedAt, FraudLabels: js.FraudLabels, TermsReasons: js.TermsViolations}
	for _, a := range js.Anomalies {
		r.AnomalyLabels = append(r.AnomalyLabels, a.Label)
	}
	return r, nil
}

type v2 struct{ c *registry.Client }

func (v v2) Check(ctx context.Context, id string) (tracker.Result, error) {
	js, err := v.c.JourneyStatusV2(ctx, id)
	if err != nil {
		return tracker.Result{}, err
	}
	return tracker.Result{Status: js.Status, CreatedAt: js.CreatedAt}, nil
}
