package platform

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/httpapi/health"
	"github.com/healthcare-ai/platform/httpapi/httpmetrics"
)

// initMetrics creates the platform's registry (Platform.Metrics): the Go
// runtime and process collectors, the JetStream consumer lag and stream sizes
// of every platform stream (bus.LagCollector, read at each scrape) and the
// HTTP request metrics; the services add theirs through their Deps. It needs
// p.JS.
func (p *Platform) initMetrics() {
	p.Metrics = prometheus.NewRegistry()
	p.Metrics.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		bus.NewLagCollector(p.JS, bus.LagOptions{}),
	)
	p.httpMetrics = httpmetrics.New(p.Metrics)
}

// serveMetrics serves GET /metrics in the Prometheus text (or negotiated
// OpenMetrics) format.
func (p *Platform) serveMetrics() http.Handler {
	// The route is public and a scrape asks NATS for every consumer's lag:
	// bound concurrent scrapes (more get 503).
	return promhttp.HandlerFor(p.Metrics, promhttp.HandlerOpts{Registry: p.Metrics, MaxRequestsInFlight: 4})
}

// readyChecks are the conditions of GET /readyz: the NATS connection is
// CONNECTED, the predictor has both models loaded, the evaluator has loaded
// its join state. The service binaries' ops listeners use the same checks
// (svcmain.Ops).
func (p *Platform) readyChecks() []health.Check {
	return []health.Check{
		health.NATS(p.Conn),
		health.Func("predictor", p.Predictor.Ready),
		health.Closed("evaluator", p.Evaluator.Ready()),
	}
}
