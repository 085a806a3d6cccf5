package main

import "github.com/prometheus/client_golang/prometheus"

// reloadMetrics are the blackbox_exporter's configuration reload gauges.
type reloadMetrics struct {
	successful, timestamp prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) *reloadMetrics {
	m := &reloadMetrics{
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "covoiturage", Subsystem: "exporter", Name: "config_last_reload_successful",
			Help: "Whether the last configuration load or reload succeeded (1) or failed and the previous configuration is still running (0).",
		}),
		timestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "covoiturage", Subsystem: "exporter", Name: "config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully, in Unix seconds.",
		}),
	}
	reg.MustRegister(m.successful, m.timestamp)
	return m
}

func (m *reloadMetrics) succeeded() {
	m.successful.Set(1)
	m.timestamp.SetToCurrentTime()
}

func (m *reloadMetrics) failed() { m.successful.Set(0) }
