package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/platform"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
	"github.com/healthcare-ai/platform/trace"
)

// dashboardFile is the Grafana dashboard of deploy/ whose expressions must
// only name metrics the platform exposes.
const dashboardFile = "../deploy/grafana/dashboards/hap-overview.json"

// TestObservability follows uploads through the embedded platform in shadow
// mode (both arms answer every request): the metrics count them (ingested
// N, inference latency N samples per arm, HTTP requests by route pattern),
// every message of a request carries the trace id of its upload's
// traceparent, feedback joins the trace (the request's traceparent, or the
// one derived from the request id), GET /metrics and GET /readyz answer, and
// every metric of the Grafana dashboard is exposed.
func TestObservability(t *testing.T) {
	p := startPlatform(t, t.TempDir(), func(c *platform.Config) {
		c.Router.DefaultMode = proto.ModeShadow
	})
	defer p.Stop(context.Background())
	base := "http://" + p.HTTPAddr().String()

	if resp, body := do(t, http.MethodGet, base+"/readyz", "", nil); resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"predictor":true`)) {
		t.Fatalf("GET /readyz: %s %s", resp.Status, body)
	}

	const n = 4
	sent := map[string]trace.Parent{} // request_id -> traceparent of the upload
	var ids []string
	for i := range n {
		tp := trace.New()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/images", bytes.NewReader(pngOf(t, i)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "image/png")
		req.Header.Set(proto.HeaderTraceParent, tp.String())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var up ingestor.UploadResponse
		err = json.NewDecoder(resp.Body).Decode(&up)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("upload %d: %s %v", i, resp.Status, err)
		}
		sent[up.RequestID] = tp
		ids = append(ids, up.RequestID)
	}

	// Metrics: N ingested, N latency samples per arm.
	bustest.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		fams := gather(t, p)
		if got := sum(fams, "hap_ingestor_images_ingested_total", map[string]string{"source": proto.SourceUpload}); got != n {
			return fmt.Errorf("ingested{upload} = %v, want %d", got, n)
		}
		for _, arm := range proto.Arms {
			if got := sum(fams, "hap_predictor_inference_latency_seconds", map[string]string{"arm": arm}); got != n {
				return fmt.Errorf("latency samples of %s = %v, want %d", arm, got, n)
			}
			if got := sum(fams, "hap_router_requests_routed_total", map[string]string{"arm": arm, "mode": proto.ModeShadow}); got != n {
				return fmt.Errorf("routed to %s = %v, want %d", arm, got, n)
			}
		}
		if got := sum(fams, "hap_http_requests_total", map[string]string{"route": "POST /v1/images", "code": "202"}); got != n {
			return fmt.Errorf("HTTP POST /v1/images 202 = %v, want %d", got, n)
		}
		return nil
	})

	// Trace context: the ingested event, both requests and both results of
	// each upload carry its trace id, each with a span id of its own.
	type hop struct{ subject, id string }
	seen := map[hop]trace.Parent{}
	for _, st := range []string{proto.StreamXRay, proto.StreamInference} {
		for _, m := range streamMsgs(t, p.JS, st) {
			tp, err := trace.Parse(m.Header.Get(proto.HeaderTraceParent))
			if err != nil {
				t.Fatalf("%s request_id=%s: %v", m.Subject, m.Header.Get(proto.HeaderRequestID), err)
			}
			seen[hop{m.Subject, m.Header.Get(proto.HeaderRequestID)}] = tp
		}
	}
	subjects := []string{proto.SubjectImageIngested}
	for _, arm := range proto.Arms {
		subjects = append(subjects, proto.InferenceRequestSubject(arm), proto.InferenceResultSubject(arm))
	}
	spans := map[trace.SpanID]string{}
	for id, want := range sent {
		for _, subj := range subjects {
			got, ok := seen[hop{subj, id}]
			switch {
			case !ok:
				t.Errorf("request %s: no message on %s", id, subj)
			case got.TraceID != want.TraceID:
				t.Errorf("request %s on %s: trace id %s, want the upload's %s", id, subj, got.TraceID, want.TraceID)
			case spans[got.SpanID] != "" || got.SpanID == want.SpanID:
				t.Errorf("request %s on %s: span id %s reused (%s)", id, subj, got.SpanID, spans[got.SpanID])
			}
			spans[got.SpanID] = subj
		}
	}

	// Feedback: with the request's traceparent, and without one (the trace
	// id derived from the request id).
	postFeedback := func(id, traceparent string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/feedback", strings.NewReader(
			fmt.Sprintf(`{"request_id":%q,"feedback_type":"true-negative","radiologist_id":"DR001"}`, id)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if traceparent != "" {
			req.Header.Set(proto.HeaderTraceParent, traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("feedback for %s: %s", id, resp.Status)
		}
	}
	postFeedback(ids[0], sent[ids[0]].Child().String())
	postFeedback(ids[1], "")
	recorded := map[string]trace.Parent{}
	for _, m := range streamMsgs(t, p.JS, proto.StreamFeedback) {
		if m.Subject == proto.SubjectFeedbackRecorded {
			recorded[m.Header.Get(proto.HeaderRequestID)], _ = trace.Parse(m.Header.Get(proto.HeaderTraceParent))
		}
	}
	if got := recorded[ids[0]]; got.TraceID != sent[ids[0]].TraceID {
		t.Errorf("feedback with the request's traceparent: trace id %s, want %s", got.TraceID, sent[ids[0]].TraceID)
	}
	if got := recorded[ids[1]]; got.TraceID != trace.FromRequestID(ids[1]).TraceID {
		t.Errorf("feedback without a traceparent: trace id %s, want the one derived from %s", got.TraceID, ids[1])
	}

	// GET /metrics serves the registry in the text format.
	resp, body := do(t, http.MethodGet, base+"/metrics", "", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		fmt.Sprintf(`hap_ingestor_images_ingested_total{source="upload"} %d`, n),
		`hap_consumer_pending_messages{consumer="router",stream="XRAY"}`,
		`hap_stream_messages{stream="INFERENCE"}`,
		`go_goroutines`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("GET /metrics lacks %s", want)
		}
	}

	// Every metric the dashboard's expressions name is exposed (the rollout
	// controller's decision counter appears with its first decision).
	names := dashboardMetrics(t)
	if len(names) < 15 {
		t.Fatalf("dashboard names %d metrics: %v", len(names), names)
	}
	bustest.CheckFor(t, time.Minute, 100*time.Millisecond, func() error {
		fams := gather(t, p)
		var missing []string
		for _, name := range names {
			if !exposed(fams, name) {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("metrics of %s not exposed by the platform: %v", dashboardFile, missing)
		}
		return nil
	})
}

// pngOf is a 160x160 gray PNG, different for each i.
func pngOf(t *testing.T, i int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 160, 160))
	for y := range 160 {
		for x := range 160 {
			img.SetGray(x, y, color.Gray{Y: uint8((x + 2*y + 37*i) % 256)})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// streamMsgs returns every message of a stream, with its headers.
func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func gather(t *testing.T, p *platform.Platform) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := p.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// sum adds the series of a family whose labels include want: counter and
// gauge values, histogram sample counts.
func sum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var total float64
	mf := fams[name]
	if mf == nil {
		return 0
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		total += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return total
}

// dashboardMetrics returns the metric names that the dashboard's panel
// expressions use (rows' nested panels included).
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string  `json:"uid"`
		Title  string  `json:"title"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("%s: uid %q, title %q, %d panels", dashboardFile, dash.UID, dash.Title, len(dash.Panels))
	}
	metricName := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	var names []string
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: panel %q: empty expression", dashboardFile, p.Title)
				}
				// Metric names are the identifiers outside {...} and [...]
				// that are not functions, aggregations or keywords.
				expr := regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]|"[^"]*"|\bby \([^)]*\)`).ReplaceAllString(tg.Expr, " ")
				for _, id := range metricName.FindAllString(expr, -1) {
					if promQLWords[id] || strings.Trim(id, "0123456789.") == "" {
						continue
					}
					if !strings.HasPrefix(id, "hap_") {
						t.Errorf("%s: panel %q: %q is not a platform metric (hap_*)", dashboardFile, p.Title, id)
						continue
					}
					if !slices.Contains(names, id) {
						names = append(names, id)
					}
				}
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	return names
}

type panel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// promQLWords are the PromQL functions, aggregations and keywords the
// dashboard may use.
var promQLWords = map[string]bool{
	"sum": true, "max": true, "min": true, "avg": true, "count": true, "by": true, "without": true,
	"rate": true, "irate": true, "increase": true, "histogram_quantile": true, "le": true,
	"topk": true, "bottomk": true, "clamp_min": true, "clamp_max": true, "abs": true, "offset": true,
}

// exposed reports whether the registry exposes name: a family, or a
// histogram's _bucket, _sum or _count series.
func exposed(fams map[string]*dto.MetricFamily, name string) bool {
	if fams[name] != nil {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if mf := fams[base]; mf != nil && mf.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}
