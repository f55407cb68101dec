package ingestor

import (
	"context"
	"net/http"
	"time"

	"github.com/healthcare-ai/platform/proto"
)

// Waiter lets the synchronous API wait for the served result of a request.
// Expect must be called before the request is announced (see results.Waiter).
type Waiter interface {
	Expect(requestID string) func(ctx context.Context) (*proto.InferenceResult, error)
}

// PredictResponse is the body of a synchronous prediction.
type PredictResponse struct {
	RequestID       string  `json:"request_id"`
	ClientRequestID string  `json:"client_request_id,omitempty"`
	ImageID         string  `json:"image_id"`
	ModelName       string  `json:"served_model_name"`
	ModelVersion    string  `json:"model_version"`
	Arm             string  `json:"arm"`
	Label           string  `json:"label"`
	Probability     float64 `json:"probability"`
	Threshold       float64 `json:"threshold"`
	LatencyMS       float64 `json:"latency_ms"`
}

// PredictHandler serves the synchronous prediction API:
//
//	POST /v1/predict  the same body as POST /v1/images; 200 PredictResponse
//	                  once the served model has answered; 4xx for a rejected
//	                  image or one the model could not use; 504 (with the
//	                  request_id, whose result is still published on
//	                  inference.result.<arm>) when no answer came in timeout.
//
// The request goes through the same pipeline as an asynchronous upload
// (stored, routed, predicted, logged), so it is counted and evaluated like any
// other.
func (s *Service) PredictHandler(w Waiter, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var wait func(context.Context) (*proto.InferenceResult, error)
		ev, ok := s.upload(rw, r, func(id string) { wait = w.Expect(id) })
		if !ok {
			if wait != nil {
				// Unregister: nothing will be published for a rejected upload.
				ctx, cancel := context.WithCancel(r.Context())
				cancel()
				_, _ = wait(ctx)
			}
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		res, err := wait(ctx)
		if err != nil {
			writeProblem(rw, http.StatusGatewayTimeout, CodeTimeout, "no prediction within "+timeout.String()+"; the result will be published on "+
				proto.InferenceResultsAll+" for this request_id", ev.RequestID)
			return
		}
		if res.Status != proto.StatusOK {
			status := res.StatusCode
			if status < 400 {
				status = http.StatusInternalServerError
			}
			writeProblem(rw, status, CodePredictionFailed, res.Error, ev.RequestID)
			return
		}
		writeJSON(rw, http.StatusOK, PredictResponse{
			RequestID: ev.RequestID, ClientRequestID: ev.ClientRequestID, ImageID: ev.ImageID,
			ModelName: res.ModelName, ModelVersion: res.ModelVersion, Arm: res.Arm, Label: res.Label,
			Probability: res.Probability, Threshold: res.Threshold, LatencyMS: res.LatencyMS,
		})
	})
}
