package push_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/covoiturage-exporter/covoiturage_exporter/push"
)

// appendBatch writes n journeys numbered from first, with their start, as
// an operator's back end would: a JSON array or NDJSON lines.
func appendBatch(b []byte, first, n int, ndjson bool) []byte {
	if !ndjson {
		b = append(b, '[')
	}
	for i := first; i < first+n; i++ {
		if i > first && !ndjson {
			b = append(b, ',')
		}
		b = append(b, `{"operator_journey_id":"push`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","start":"2026-11-20T08:15:00Z"}`...)
		if ndjson {
			b = append(b, '\n')
		}
	}
	if !ndjson {
		b = append(b, ']')
	}
	return b
}

// BenchmarkPush measures push ingestion, ids per second, through real
// HTTP (keep-alive, one client at a time) into a real exporter's registry:
// batches of 1000 new ids as a JSON array and as NDJSON, new ids one by
// one, and a batch of 1000 ids pushed again (all already tracked).
// ns/op is one request; the client's cost (building the body, reading the
// answer) is included.
func BenchmarkPush(b *testing.B) {
	for _, bc := range []struct {
		name   string
		batch  int
		ndjson bool
		again  bool // the same ids every time
	}{
		{name: "one_by_one", batch: 1},
		{name: "batch=1000/json", batch: 1000},
		{name: "batch=1000/ndjson", batch: 1000, ndjson: true},
		{name: "batch=1000/already_tracked", batch: 1000, again: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ex := newExporter(b)
			url := serve(b, ex, push.Options{}) + "/api/v1/journeys/" + prod
			contentType := "application/json"
			if bc.ndjson {
				contentType = "application/x-ndjson"
			}
			client := &http.Client{}
			send := func(body []byte) push.Response {
				resp, err := client.Post(url, contentType, bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				var r push.Response
				if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("answer %d: %v", resp.StatusCode, err)
				}
				return r
			}
			var body []byte
			if bc.again {
				body = appendBatch(body, 0, bc.batch, bc.ndjson)
				send(body)
			}
			pushed := 0
			b.ReportAllocs()
			for b.Loop() {
				if !bc.again {
					body = appendBatch(body[:0], pushed, bc.batch, bc.ndjson)
				}
				r := send(body)
				if r.Accepted != bc.batch || (bc.again && r.AlreadyTracked != bc.batch) || (!bc.again && r.New != bc.batch) {
					b.Fatalf("answer %+v to a batch of %d", r, bc.batch)
				}
				pushed += bc.batch
			}
			b.ReportMetric(float64(pushed)/b.Elapsed().Seconds(), "ids/s")
			want := pushed
			if bc.again {
				want = bc.batch
			}
			if n := ex.Tracker(prod).Len(); n != want {
				b.Fatalf("tracker holds %d journeys, want %d", n, want)
			}
		})
	}
}
