package svcmain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/httpapi/health"
)

// Default ops listeners of the service binaries: one port each, so that all
// of them can run on one host. Loopback only; a container publishes its own
// with -ops-addr 0.0.0.0:<port> (deploy/docker-compose.yml).
const (
	OpsIngestor    = "127.0.0.1:9461"
	OpsRouter      = "127.0.0.1:9462"
	OpsPredictor   = "127.0.0.1:9463"
	OpsFeedback    = "127.0.0.1:9464"
	OpsEvaluator   = "127.0.0.1:9465"
	OpsRollout     = "127.0.0.1:9466"
	OpsTablewriter = "127.0.0.1:9467"
	OpsDrift       = "127.0.0.1:9468"
)

// OpsFlag registers -ops-addr on fs (default from the environment variable
// OPS_ADDR, else def): the listen address of the operations endpoints (see
// Ops); empty serves none.
func OpsFlag(fs *flag.FlagSet, def string) *string {
	return fs.String("ops-addr", Env("OPS_ADDR", def),
		"listen address of GET /metrics, /healthz and /readyz, empty for none (env OPS_ADDR)")
}

// Ops is a service binary's operations listener:
//
//	GET /metrics  Prometheus metrics of Registry (the service's metrics, Go
//	              runtime and process collectors)
//	GET /healthz  200 while the process serves HTTP (liveness)
//	GET /readyz   200 when every check passes, else 503 problem details
//	              naming the failing checks (package health)
//
// Create it with NewOps before the service, pass Registry to the service's
// Deps, add the readiness checks (health.NATS for the connection, the
// service's own Ready), then Start it.
type Ops struct {
	// Registry collects the binary's metrics.
	Registry *prometheus.Registry

	mu     sync.Mutex
	checks []health.Check
}

// NewOps returns an Ops whose registry has the Go and process collectors.
func NewOps() *Ops {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Ops{Registry: reg}
}

// Check adds readiness checks.
func (o *Ops) Check(c ...health.Check) {
	o.mu.Lock()
	o.checks = append(o.checks, c...)
	o.mu.Unlock()
}

// Consumers registers the JetStream lag of the named durable consumers (the
// service's own) and the size of every platform stream (bus.LagCollector);
// with no names, only the stream sizes.
func (o *Ops) Consumers(js jetstream.JetStream, durables ...string) {
	o.Registry.MustRegister(bus.NewLagCollector(js, bus.LagOptions{Durables: append([]string{}, durables...)}))
}

// Handler serves the operations endpoints.
func (o *Ops) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	mux.Handle("GET /healthz", health.Live())
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		checks := append([]health.Check(nil), o.checks...)
		o.mu.Unlock()
		health.Ready(checks...).ServeHTTP(w, r)
	})
	return mux
}

// Start serves Handler on addr until stop is called (stop waits, at most
// 5 s, for requests in flight): call it once the service has stopped, so
// probes are answered while it drains. An empty addr serves nothing; Start
// then returns a nil address and a no-op stop.
func (o *Ops) Start(ctx context.Context, addr string, log *slog.Logger) (_ net.Addr, stop func(), _ error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("ops listener: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: o.Handler(), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	if log != nil {
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
		log.Info("ops listening", "addr", ln.Addr().String())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && log != nil {
			log.Error("ops listener stopped", "err", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			<-done
		})
	}
	return ln.Addr(), stop, nil
}
