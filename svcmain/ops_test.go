package svcmain

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/httpapi/health"
)

func TestOpsListener(t *testing.T) {
	env := bustest.Start(t)
	ops := NewOps()
	var loaded atomic.Bool
	ops.Check(health.NATS(env.Conn), health.Func("predictor", loaded.Load))
	promauto.With(ops.Registry).NewCounter(prometheus.CounterOpts{Name: "hap_test_total", Help: "test"}).Add(3)
	addr, stop, err := ops.Start(t.Context(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	base := "http://" + addr.String()
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, _, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("GET /healthz: %d", code)
	}
	code, ct, body := get("/readyz")
	if code != http.StatusServiceUnavailable || ct != "application/problem+json" {
		t.Fatalf("GET /readyz before ready: %d %s %s", code, ct, body)
	}
	var pr map[string]any
	if err := json.Unmarshal([]byte(body), &pr); err != nil {
		t.Fatal(err)
	}
	if pr["predictor"] != false || pr["nats"] != true || !strings.Contains(pr["detail"].(string), "predictor") {
		t.Fatalf("GET /readyz body %s: want predictor false, nats true, detail naming predictor", body)
	}
	loaded.Store(true)
	if code, _, body := get("/readyz"); code != http.StatusOK || !strings.Contains(body, `"predictor":true`) {
		t.Fatalf("GET /readyz after ready: %d %s", code, body)
	}
	env.Conn.Close()
	if code, _, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"nats":false`) {
		t.Fatalf("GET /readyz with NATS closed: %d %s", code, body)
	}
	_, _, metrics := get("/metrics")
	for _, name := range []string{"hap_test_total 3", "go_goroutines", "process_"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("GET /metrics lacks %q", name)
		}
	}
	if _, stop, err := ops.Start(t.Context(), "", nil); err != nil {
		t.Fatal(err)
	} else {
		stop()
	}
}

func TestOpsFlag(t *testing.T) {
	t.Setenv("OPS_ADDR", "")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	addr := OpsFlag(fs, OpsRouter)
	if err := fs.Parse(nil); err != nil || *addr != OpsRouter {
		t.Fatalf("default %q, %v", *addr, err)
	}
	t.Setenv("OPS_ADDR", "0.0.0.0:9999")
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	addr = OpsFlag(fs, OpsRouter)
	if err := fs.Parse([]string{}); err != nil || *addr != "0.0.0.0:9999" {
		t.Fatalf("from env %q, %v", *addr, err)
	}
}
