package serving

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/healthcare-ai/platform/bus"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/model"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/predictor"
	"github.com/healthcare-ai/platform/services/router"
	"github.com/healthcare-ai/platform/xray/preprocess"
)

// HeaderRequestID is the response header carrying the request id the server
// gave the request (also in the body), which radiologist feedback references.
const HeaderRequestID = "X-Request-Id"

// HeaderClientRequestID is the request header a client may use to send its
// own reference (as the ingestor's upload API); it is recorded as
// client_request_id. An Open Inference Protocol body's "id" takes precedence.
const HeaderClientRequestID = "X-Client-Request-Id"

// maxClientIDLen bounds a recorded client_request_id (as the ingestor).
const maxClientIDLen = 256

// Names of the extra Open Inference Protocol tensors.
const (
	// InputImageBytes is the BYTES input carrying encoded images (base64 JPEG
	// or PNG, or data: URIs), preprocessed by the server.
	InputImageBytes = "image_bytes"
	// OutputLabel is the optional BYTES output with the predicted labels.
	OutputLabel = "label"
)

// endpoint kinds.
const (
	kindAlias      = "alias"
	kindModel      = "model"
	kindExperiment = "experiment"
)

// target is what an endpoint name resolves to.
type target struct {
	name string // as addressed
	kind string // kindAlias, kindModel, kindExperiment
	arm  string // for aliases and models
}

// resolve maps an endpoint name to a target: an alias (the name of an arm),
// the experiment, or the name of a model an arm serves now (champion first).
// It returns a 404 problem for an unknown name, and a 503 one when the name
// may be a model that is not loaded yet.
func (s *Server) resolve(name string) (target, error) {
	arms := s.deps.Models.Arms()
	if slices.Contains(arms, name) {
		return target{name: name, kind: kindAlias, arm: name}, nil
	}
	if name == s.cfg.Experiment && s.deps.Experiment != nil {
		return target{name: name, kind: kindExperiment}, nil
	}
	var served []string
	notLoaded := 0
	for _, arm := range arms {
		err := s.deps.Models.WithModel(arm, func(l predictor.Loaded) error {
			served = append(served, l.Ref.Name)
			if l.Ref.Name == name {
				return errFound
			}
			return nil
		})
		switch {
		case errors.Is(err, errFound):
			return target{name: name, kind: kindModel, arm: arm}, nil
		case errors.Is(err, predictor.ErrNotLoaded):
			notLoaded++
		}
	}
	if notLoaded > 0 {
		return target{}, ModelNotReady.New("name", "model %q: not among the models loaded so far (%d of %d arms have no model yet); retry", name, notLoaded, len(arms))
	}
	known := append(slices.Clone(arms), served...)
	if s.deps.Experiment != nil {
		known = append(known, s.cfg.Experiment)
	}
	return target{}, ModelNotFound.New("name", "model %q: not served here; known names: %q", name, known)
}

var errFound = errors.New("found")

// part is one input of a request in the order given: a tensor holding one
// or more images, or one encoded image.
type part struct {
	field string // the request field it came from, for errors

	// A tensor: values in row-major order and the shape as given (declared
	// in an Open Inference Protocol input, or the nesting of an MLflow
	// array).
	values []float32
	shape  []int
	// oip: the shape must be [N C H W] exactly; otherwise the MLflow forms
	// HxW, CxHxW, NxHxW (C = 1) and NxCxHxW are accepted.
	oip bool

	// An encoded image (JPEG or PNG) and what is known of where it came from.
	image []byte
	ref   proto.ImageRef
	// isImage tells an image from a tensor.
	isImage bool
}

// call is one inference request after decoding.
type call struct {
	requestID string
	clientID  string
	target    target
	version   string // requested version, "" for any
	parts     []part
}

// armResult is what one arm made of a call.
type armResult struct {
	arm      string
	served   bool
	ref      predictor.ModelRef
	meta     model.Metadata
	probs    []float64
	refs     []proto.ImageRef // per item
	latency  time.Duration
	err      error // a *problem.Problem
	modelErr bool  // err is a failure of the model (logged), not of the input
}

// outcome is a served answer.
type outcome struct {
	experiment proto.Experiment // zero for direct calls
	res        armResult        // the served arm's result
	ids        []string         // request id of each item
}

// newRequestID returns a random UUIDv4-shaped request id (as the ingestor's).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// itemIDs returns the request ids of the n items of a request: the request
// id itself for one item, "<request_id>-<i>" for each of several.
func itemIDs(requestID string, n int) []string {
	if n == 1 {
		return []string{requestID}
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = requestID + "-" + strconv.Itoa(i)
	}
	return ids
}

// infer routes a call, runs it on the arm(s), publishes the results and
// returns the served answer, or a *problem.Problem.
func (s *Server) infer(ctx context.Context, c *call) (outcome, error) {
	routedAt := s.cfg.Now().UTC()
	var out outcome
	var routes []router.Route
	switch c.target.kind {
	case kindExperiment:
		if c.version != "" {
			return out, ModelVersionNotFound.New("version", "experiment endpoint %q has no versions: it serves the model of the arm the split assigns", c.target.name)
		}
		exp, ok := s.deps.Experiment.Experiment()
		if !ok {
			return out, ModelNotReady.New("name", "experiment %q: not loaded yet; retry", c.target.name)
		}
		out.experiment = exp
		// The router's own assignment, keyed by the request id: the unit
		// of assignment is the HTTP request (a batch goes to one arm).
		routes = router.Routes(exp, c.requestID, "")
	default:
		routes = []router.Route{{Arm: c.target.arm, Served: true}}
	}

	release, err := s.acquire(ctx)
	if err != nil {
		return out, err
	}
	results := make([]armResult, 0, len(routes))
	for _, rt := range routes {
		r := s.runArm(ctx, c, rt.Arm)
		r.served = rt.Served
		results = append(results, r)
		if r.served && r.err != nil && !r.modelErr {
			break // the served arm refuses the input: the request fails, the shadow need not run
		}
	}
	release()

	served := results[0] // the router lists the served route first
	for _, r := range results {
		if r.served {
			served = r
		}
	}
	if served.err != nil && !served.modelErr {
		return out, served.err // the input is wrong: nothing was inferred, nothing is logged
	}
	out.res = served
	out.ids = itemIDs(c.requestID, max(len(served.refs), 1))

	// Record every arm that inferred (or failed in the model) before
	// answering: a prediction that is not logged is not served.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	for _, r := range results {
		if r.err != nil && !r.modelErr {
			s.log.Debug("shadow arm refused the input; not logged", attrRequestID, c.requestID, attrArm, r.arm, "err", r.err)
			continue
		}
		if err := s.publish(pctx, c, out.experiment, r, routedAt); err != nil {
			s.log.Error("publish inference result failed", attrRequestID, c.requestID, attrArm, r.arm, "err", err)
			return out, NotLogged.New("", "request_id %s: the prediction could not be recorded on %s (%v); retry",
				c.requestID, proto.InferenceResultSubject(r.arm), err)
		}
	}
	if served.err != nil {
		return out, served.err
	}
	return out, nil
}

// publish records one arm's result for each item of a call.
func (s *Server) publish(ctx context.Context, c *call, exp proto.Experiment, r armResult, routedAt time.Time) error {
	n := max(len(r.refs), 1)
	ids := itemIDs(c.requestID, n)
	now := s.cfg.Now().UTC()
	for i := range n {
		res := &proto.InferenceResult{
			SchemaVersion:   proto.SchemaVersion,
			RequestID:       ids[i],
			ClientRequestID: c.clientID,
			Experiment:      exp.Name,
			Arm:             r.arm,
			Served:          r.served,
			ConfiguredSplit: exp.Split,
			Epoch:           exp.Epoch,
			ModelName:       r.ref.Name,
			ModelVersion:    r.ref.Version,
			LatencyMS:       float64(r.latency.Microseconds()) / 1000,
			RoutedAt:        routedAt,
			CompletedAt:     now,
		}
		if i < len(r.refs) {
			res.Image = r.refs[i]
		}
		if r.err != nil {
			p := problem.From(r.err)
			res.Status, res.StatusCode, res.Error = proto.StatusError, p.Status, p.Detail
		} else {
			res.Status, res.StatusCode = proto.StatusOK, http.StatusOK
			res.Probability, res.Threshold = r.probs[i], r.meta.Threshold
			res.Label = r.meta.Label(r.probs[i])
		}
		if _, err := bus.Publish(ctx, s.deps.JS, proto.InferenceResultSubject(r.arm), res); err != nil {
			return err
		}
	}
	return nil
}

// runArm validates the call's inputs against the model arm serves now,
// preprocesses the images and runs one batched inference.
func (s *Server) runArm(ctx context.Context, c *call, arm string) armResult {
	res := armResult{arm: arm}
	start := time.Now()
	err := s.deps.Models.WithModel(arm, func(l predictor.Loaded) error {
		res.ref, res.meta = l.Ref, l.Model.Metadata()
		if c.version != "" && c.version != l.Ref.Version {
			return ModelVersionNotFound.New("version", "%s %q serves %s version %s, not version %s",
				c.target.kind, c.target.name, l.Ref.Name, l.Ref.Version, c.version)
		}
		batch, refs, err := s.assemble(c.parts, l)
		if err != nil {
			return err
		}
		res.refs = refs
		probs, err := l.Model.Predict(ctx, batch, len(refs))
		if err != nil {
			res.modelErr = ctx.Err() == nil
			if !res.modelErr {
				return Unavailable.New("", "inference cancelled: %v", ctx.Err())
			}
			return InferenceFailed.New("", "%s version %s: %v", l.Ref.Name, l.Ref.Version, err)
		}
		res.probs = probs
		return nil
	})
	res.latency = time.Since(start)
	switch {
	case err == nil:
	case errors.Is(err, predictor.ErrNotLoaded):
		res.err = ModelNotReady.New("name", "%s %q: arm %s has no model loaded yet; retry", c.target.kind, c.target.name, arm)
	default:
		res.err = err
	}
	return res
}

// assemble turns the parts into one NCHW batch for the model in l and returns
// it with the image reference of each item.
func (s *Server) assemble(parts []part, l predictor.Loaded) ([]float32, []proto.ImageRef, error) {
	md := l.Model.Metadata()
	pp := md.Preprocess
	chw := []int{pp.Channels, pp.Height, pp.Width}
	size := l.Model.ItemSize()
	counts := make([]int, len(parts))
	n := 0
	for i, p := range parts {
		if p.isImage {
			counts[i] = 1
		} else {
			k, err := items(p, md, chw)
			if err != nil {
				return nil, nil, err
			}
			counts[i] = k
		}
		n += counts[i]
	}
	if n == 0 {
		return nil, nil, InvalidRequest.New("inputs", "no image in the request")
	}
	if n > s.cfg.MaxBatch {
		return nil, nil, BatchTooLarge.New("inputs", "%d images: at most %d per request", n, s.cfg.MaxBatch)
	}
	batch := make([]float32, n*size)
	refs := make([]proto.ImageRef, 0, n)
	at := 0
	for i, p := range parts {
		if !p.isImage {
			copy(batch[at*size:], p.values)
			at += counts[i]
			for range counts[i] {
				refs = append(refs, proto.ImageRef{})
			}
			continue
		}
		slot := batch[at*size : (at+1)*size : (at+1)*size]
		r, err := l.Spec.DecodeInto(slot, p.image)
		if err != nil {
			return nil, nil, imageError(p.field, err)
		}
		copy(slot, r.Tensor)
		ref := p.ref
		ref.Format, ref.Width, ref.Height = string(r.Format), r.Width, r.Height
		refs = append(refs, ref)
		at++
	}
	return batch, refs, nil
}

// imageError describes an image the preprocessing refused (not JPEG or PNG,
// corrupt, too many pixels).
func imageError(field string, err error) error {
	if errors.Is(err, preprocess.ErrFormat) || errors.Is(err, preprocess.ErrCorrupt) || errors.Is(err, preprocess.ErrTooLarge) {
		return InvalidImage.New(field, "%v", err)
	}
	return InvalidImage.New(field, "preprocess: %v", err)
}

// items checks a tensor part's shape against the model's [C H W] and
// returns how many images it holds.
func items(p part, md model.Metadata, chw []int) (int, error) {
	c, h, w := chw[0], chw[1], chw[2]
	sh := p.shape
	want := fmt.Sprintf("[N %d %d %d]", c, h, w)
	if p.oip {
		if len(sh) != 4 || sh[0] < 1 || sh[1] != c || sh[2] != h || sh[3] != w {
			return 0, InvalidTensorShape.New(p.field, "shape %v: model %s input %q takes %s with N >= 1 (NCHW)", sh, md.Name, md.InputName, want)
		}
		return sh[0], nil
	}
	switch {
	case len(sh) == 2 && c == 1 && sh[0] == h && sh[1] == w: // HxW
		return 1, nil
	case len(sh) == 3 && sh[0] == c && sh[1] == h && sh[2] == w: // CxHxW
		return 1, nil
	case len(sh) == 3 && c == 1 && sh[0] >= 1 && sh[1] == h && sh[2] == w: // NxHxW
		return sh[0], nil
	case len(sh) == 4 && sh[0] >= 1 && sh[1] == c && sh[2] == h && sh[3] == w: // NxCxHxW
		return sh[0], nil
	}
	accepted := fmt.Sprintf("one image as [%d %d %d], or N images as [N %d %d %d]", c, h, w, c, h, w)
	if c == 1 {
		accepted = fmt.Sprintf("one image as [%d %d] or [1 %d %d], or N images as [N %d %d] or [N 1 %d %d]", h, w, h, w, h, w, h, w)
	}
	return 0, InvalidTensorShape.New(p.field, "shape %v: model %s takes %s (preprocessed values, see GET /v2/models/%s)",
		sh, md.Name, accepted, md.Name)
}
