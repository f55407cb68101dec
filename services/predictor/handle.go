package predictor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/xray/preprocess"
)

// Prediction is the outcome of one inference.
type Prediction struct {
	Model       ModelRef
	Label       string
	Probability float64 // P(PNEUMONIA)
	Threshold   float64
	Latency     time.Duration // preprocessing + inference
	// Input summarises the tensor the model ran on (nil if it could not be
	// summarised), for drift monitoring.
	Input *proto.InputStats
}

// ErrBadImage is wrapped by Predict for an image the model cannot use.
var ErrBadImage = errors.New("bad image")

// Predict runs the arm's current model on encoded image bytes (JPEG or PNG).
func (s *Service) Predict(ctx context.Context, arm string, data []byte) (Prediction, error) {
	am, ok := s.arms[arm]
	if !ok {
		return Prediction{}, fmt.Errorf("arm %q: not served by this predictor", arm)
	}
	start := time.Now()
	am.mu.RLock()
	defer am.mu.RUnlock()
	if am.m == nil {
		return Prediction{}, errNotLoaded
	}
	res, err := am.spec.Decode(data)
	if err != nil {
		return Prediction{}, fmt.Errorf("%w: %w", ErrBadImage, err)
	}
	input := InputStats(am.spec, res.Tensor)
	p, err := am.m.PredictOne(ctx, res.Tensor)
	if err != nil {
		return Prediction{}, fmt.Errorf("run %s version %s: %w", am.ref.Name, am.ref.Version, err)
	}
	md := am.m.Metadata()
	return Prediction{Model: am.ref, Label: am.m.Label(p), Probability: p, Threshold: md.Threshold, Latency: time.Since(start), Input: input}, nil
}

func (s *Service) handle(arm string) bus.Handler {
	return func(ctx context.Context, msg jetstream.Msg) error {
		var req proto.InferenceRequest
		if err := proto.Decode(msg.Data(), &req); err != nil {
			return err
		}
		if req.Arm != arm {
			return bus.Permanent(fmt.Errorf("request for arm %q on the %s subject", req.Arm, arm))
		}
		res, err := s.infer(ctx, arm, &req)
		if err != nil {
			return err
		}
		tp := bus.TraceOf(msg.Headers(), req.RequestID).Child()
		if _, err := bus.PublishWith(ctx, s.deps.JS, proto.InferenceResultSubject(arm), res, bus.TraceHeader(tp)); err != nil {
			return err
		}
		s.met.published(res)
		log := s.log.With("request_id", req.RequestID, "trace_id", tp.TraceID.String(), "arm", arm)
		if res.Status == proto.StatusOK {
			log.Debug("prediction", "model", res.ModelName, "model_version", res.ModelVersion, "label", res.Label, "probability", res.Probability)
		} else {
			log.Warn("prediction failed", "status_code", res.StatusCode, "err", res.Error)
		}
		return nil
	}
}

// infer produces the result of one request. It returns an error only for
// transient failures that redelivery may fix.
func (s *Service) infer(ctx context.Context, arm string, req *proto.InferenceRequest) (*proto.InferenceResult, error) {
	start := time.Now()
	res := &proto.InferenceResult{
		RequestID: req.RequestID, ClientRequestID: req.ClientRequestID, Experiment: req.Experiment,
		Arm: arm, Served: req.Served, ConfiguredSplit: req.ConfiguredSplit, Epoch: req.Epoch, Image: req.Image, RoutedAt: req.RoutedAt,
	}
	fail := func(code int, err error) (*proto.InferenceResult, error) {
		res.Status, res.StatusCode, res.Error = proto.StatusError, code, err.Error()
		if ref := s.arms[arm].current(); ref.Name != "" {
			res.ModelName, res.ModelVersion = ref.Name, ref.Version
		}
		res.LatencyMS = ms(time.Since(start))
		res.CompletedAt = s.cfg.Now().UTC()
		return res, nil
	}
	data, err := s.deps.Blobs.Get(ctx, req.Image.Key)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return fail(http.StatusNotFound, fmt.Errorf("image %s: not in the blob store", req.Image.Key))
	case errors.Is(err, blob.ErrInvalidKey):
		return fail(http.StatusBadRequest, err)
	case err != nil:
		return nil, fmt.Errorf("fetch image %s: %w", req.Image.Key, err)
	}
	p, err := s.Predict(ctx, arm, data)
	switch {
	case errors.Is(err, ErrBadImage), errors.Is(err, preprocess.ErrCorrupt):
		return fail(http.StatusBadRequest, err)
	case errors.Is(err, errNotLoaded):
		return nil, fmt.Errorf("arm %s: %w", arm, err)
	case err != nil:
		return fail(http.StatusInternalServerError, err)
	}
	res.Status, res.StatusCode = proto.StatusOK, http.StatusOK
	res.ModelName, res.ModelVersion = p.Model.Name, p.Model.Version
	res.Label, res.Probability, res.Threshold = p.Label, p.Probability, p.Threshold
	res.InputStats = p.Input
	res.LatencyMS = ms(time.Since(start))
	res.CompletedAt = s.cfg.Now().UTC()
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
