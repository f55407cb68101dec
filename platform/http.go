package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/ingestor"
)

// Handler returns every HTTP route of the platform:
//
//	POST /v1/images                   asynchronous upload (ingestor)
//	POST /v1/predict                  synchronous prediction (ingestor + result waiter)
//	POST /v1/feedback                 radiologist feedback (feedback)
//	GET  /v1/metrics[/{experiment}]   live per-model metrics (evaluator)
//	GET  /v1/requests/{request_id}    joined state of one request (evaluator)
//	GET  /v1/rollout/{experiment}     decision engine: last decision, pending approval, history
//	POST /v1/rollout/{experiment}/approve|reject|start
//	GET  /v1/models                   the model each arm serves
//	POST /dicom-web/studies[/{study}] DICOMweb STOW-RS from a PACS (ingestor)
//	/v2/...                           Open Inference Protocol v2 (serving)
//	POST /invocations, /endpoints/{name}/invocations   MLflow scoring (serving)
//	GET  /healthz, /readyz            liveness, readiness
func (p *Platform) Handler() http.Handler {
	mux := http.NewServeMux()
	ing := p.Ingestor.Handler()
	mux.Handle("POST /v1/images", ing)
	mux.Handle(ingestor.RouteSTOW, ing)
	mux.Handle(ingestor.RouteSTOWStudy, ing)
	p.Serving.Register(mux)
	mux.Handle("POST /v1/predict", p.Ingestor.PredictHandler(p.Waiter, p.cfg.SyncTimeout))
	mux.Handle("/v1/feedback", p.Feedback.Handler())
	ev := p.Evaluator.Handler()
	mux.Handle("/v1/metrics", ev)
	mux.Handle("/v1/metrics/", ev)
	mux.Handle("/v1/requests/", ev)
	if p.Rollout != nil {
		mux.Handle("/v1/rollout/", p.Rollout.Handler())
	}
	mux.HandleFunc("GET /v1/models", p.serveModels)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", p.serveReady)
	return mux
}

type armModel struct {
	Arm          string  `json:"arm"`
	ModelName    string  `json:"served_model_name"`
	ModelVersion string  `json:"model_version"`
	Architecture string  `json:"architecture"`
	Release      string  `json:"release"`
	Threshold    float64 `json:"threshold"`
	Input        string  `json:"input"`
}

func (p *Platform) serveModels(w http.ResponseWriter, _ *http.Request) {
	var out []armModel
	for _, arm := range proto.Arms {
		ref, md, ok := p.Predictor.Serving(arm)
		if !ok {
			continue
		}
		out = append(out, armModel{Arm: arm, ModelName: ref.Name, ModelVersion: ref.Version, Architecture: md.Architecture,
			Release: md.Version, Threshold: md.Threshold,
			Input: fmt.Sprintf("%dx%dx%d %s", md.Preprocess.Channels, md.Preprocess.Height, md.Preprocess.Width, md.Preprocess.Resize)})
	}
	exp, _ := p.Router.Experiment()
	writeJSON(w, http.StatusOK, map[string]any{"experiment": exp, "arms": out})
}

func (p *Platform) serveReady(w http.ResponseWriter, _ *http.Request) {
	checks := map[string]bool{
		"nats":      p.Conn.IsConnected(),
		"predictor": p.Predictor.Ready(),
	}
	select {
	case <-p.Evaluator.Ready():
		checks["evaluator"] = true
	default:
		checks["evaluator"] = false
	}
	status := http.StatusOK
	for _, ok := range checks {
		if !ok {
			status = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, checks)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *Platform) serveHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("platform: listen on %s: %w", addr, err)
	}
	p.httpAddr = ln.Addr()
	p.httpSrv = &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}
