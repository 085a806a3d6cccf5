package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// EndpointSubmit is POST /journeys, the operator's own submission.
const EndpointSubmit = "journey_submit"

const groupSubmit = "submit"

// Submitted is the registry's answer to an accepted POST /journeys.
type Submitted struct {
	OperatorJourneyID string
	CreatedAt         time.Time
}

// DecodeSubmission reads the answer to a POST /journeys the caller made or
// relayed (the submission proxy forwards bodies untouched and reads the
// answer with this). A 201 gives the created journey; anything else gives
// the typed error: ErrConflict for a duplicate, ErrTermsViolation with the
// labels for a 422 (the journey is then stored as terms_violation_error).
func DecodeSubmission(status int, body []byte, header http.Header) (Submitted, error) {
	if status < 200 || status > 299 {
		if header == nil {
			header = http.Header{}
		}
		return Submitted{}, classify(EndpointSubmit, status, body, header, time.Now())
	}
	var env struct {
		Result *struct {
			Data *struct {
				OperatorJourneyID json.RawMessage `json:"operator_journey_id"`
				CreatedAt         json.RawMessage `json:"created_at"`
			} `json:"data"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Submitted{}, &Error{Kind: KindDecode, Endpoint: EndpointSubmit, HTTPStatus: status, Err: fmt.Errorf("submission body: %w", err)}
	}
	if env.Result == nil || env.Result.Data == nil {
		return Submitted{}, &Error{Kind: KindDecode, Endpoint: EndpointSubmit, HTTPStatus: status, Message: "submission body: no result.data"}
	}
	return Submitted{
		OperatorJourneyID: scalarString(env.Result.Data.OperatorJourneyID),
		CreatedAt:         parseTime(env.Result.Data.CreatedAt),
	}, nil
}

// SubmitJourney posts a journey (the v3 POST /journeys body, as JSON). It is
// never retried: a retry after a lost answer would come back as a 409.
func (c *Client) SubmitJourney(ctx context.Context, payload []byte) (Submitted, error) {
	var out Submitted
	err := c.do(ctx, call{
		endpoint: EndpointSubmit, group: groupSubmit, method: http.MethodPost,
		path: c.versioned("journeys"), body: payload, auth: true,
		decode: func(b []byte) (err error) {
			out, err = DecodeSubmission(http.StatusCreated, b, nil)
			return err
		},
	})
	return out, err
}
