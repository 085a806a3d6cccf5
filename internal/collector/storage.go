package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/covoiturage-exporter/covoiturage_exporter/internal/storage"
)

// Storage is the collector of the durable store's figures: whether the
// state reaches the disk, how long it takes, and how large the file is.
type Storage struct {
	stats func() storage.Stats

	flushes, duration, last, size, corrupt *prometheus.Desc
}

// NewStorage returns the collector; stats is called once per scrape.
func NewStorage(stats func() storage.Stats) *Storage {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_storage_"+name, help, labels, nil)
	}
	return &Storage{
		stats:    stats,
		flushes:  d("flushes_total", "Transactions writing the exporter's state to --storage.path, by result (ok, error). After an error the changes stay in memory and are written again at the next flush; pushed journeys are not acknowledged meanwhile.", "result"),
		duration: d("flush_duration_seconds", "Duration of the transactions writing the exporter's state, fsync included."),
		last:     d("last_flush_timestamp_seconds", "When the exporter's state was last written successfully, in Unix seconds (absent before the first write)."),
		size:     d("size_bytes", "Size of the storage file, free pages included."),
		corrupt:  d("corrupt_records_total", "Stored records that could not be read when the state was loaded and were skipped: their journeys are lost."),
	}
}

// Describe implements prometheus.Collector.
func (c *Storage) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.flushes, c.duration, c.last, c.size, c.corrupt} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Storage) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(c.flushes, prometheus.CounterValue, float64(s.Flushes), "ok")
	ch <- prometheus.MustNewConstMetric(c.flushes, prometheus.CounterValue, float64(s.FailedFlushes), "error")
	buckets := make(map[float64]uint64, len(storage.FlushBuckets))
	var cumulative, count uint64
	for i, n := range s.FlushDuration {
		cumulative += n
		if i < len(storage.FlushBuckets) {
			buckets[storage.FlushBuckets[i]] = cumulative
		}
		count = cumulative
	}
	ch <- prometheus.MustNewConstHistogram(c.duration, count, s.FlushDurationSum, buckets)
	if !s.LastFlush.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(s.LastFlush.UnixNano())/1e9)
	}
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(s.SizeBytes))
	ch <- prometheus.MustNewConstMetric(c.corrupt, prometheus.CounterValue, float64(s.CorruptRecords))
}
