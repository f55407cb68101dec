// Package onnxrt runs models exported to ONNX with ONNX Runtime, through
// github.com/yalue/onnxruntime_go and the shared library fetched by
// scripts/fetch-onnxruntime.sh. *Model implements model.Predictor.
//
// # Process-global runtime
//
// ONNX Runtime keeps its environment (and the dlopen'ed library) per process, so
// this package does too: call Init once (LibraryPath finds the library), then
// Load any number of models. The environment is never torn down; it lives as
// long as the process.
//
// # Ownership and closing
//
// Load returns a *Model owned by the caller, who must Close it to free the
// native session (Go's garbage collector does not see that memory). Close waits
// for Predict calls in flight, is safe to call more than once, and Predict
// after Close returns ErrClosed.
//
// # Concurrency
//
// A Model is safe for concurrent use by many goroutines: it holds one
// onnxruntime_go DynamicAdvancedSession, whose Run is safe for concurrent
// callers, and each Predict creates and destroys its own input and output
// tensors. Each inference uses Options.IntraOpThreads threads (default 1):
// small CNNs are fastest with one thread per inference and parallelism across
// requests.
package onnxrt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/healthcare-ai/platform/model"
)

// ErrClosed is returned by Predict after Close.
var ErrClosed = errors.New("onnxrt: model is closed")

// Options configure Load. The zero value is valid.
type Options struct {
	// IntraOpThreads is the number of threads ONNX Runtime may use inside one
	// inference. 0 means 1.
	IntraOpThreads int
}

// Model is a loaded ONNX model with validated metadata. See the package
// documentation for ownership and concurrency.
type Model struct {
	meta   model.Metadata
	sig    Signature
	lay    layout
	posIdx int
	warmUp time.Duration

	// mu guards session: Predict holds it for reading while it runs, Close for
	// writing, so Close waits for runs in flight and no run sees a destroyed
	// session.
	mu      sync.RWMutex
	session *ort.DynamicAdvancedSession
}

var _ model.Predictor = (*Model)(nil)

// LoadFile reads the ONNX model at path and loads it with Load.
func LoadFile(path string, opts Options) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model file: %w", err)
	}
	m, err := Load(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Load creates a Model from the bytes of an ONNX file. It reads and validates
// the "hap.metadata" entry of the model's metadata_props, checks that the
// graph's input and output agree with it, creates the session and runs one
// warm-up inference on a zero image. Init must have succeeded before.
//
// Load does not keep onnxBytes.
func Load(onnxBytes []byte, opts Options) (*Model, error) {
	if !initialized() {
		return nil, ErrNotInitialized
	}
	if opts.IntraOpThreads < 0 {
		return nil, fmt.Errorf("load model: options: IntraOpThreads %d: must be >= 0", opts.IntraOpThreads)
	}
	if opts.IntraOpThreads == 0 {
		opts.IntraOpThreads = 1
	}
	if len(onnxBytes) == 0 {
		return nil, errors.New("load model: ONNX data is empty")
	}

	props, err := customMetadata(onnxBytes)
	if err != nil {
		return nil, fmt.Errorf("load model: not a loadable ONNX model (%d bytes): %w", len(onnxBytes), err)
	}
	meta, err := model.ParseMetadata(props)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	where := fmt.Sprintf("load model %s %s", meta.Name, meta.Version)

	inputs, outputs, err := ort.GetInputOutputInfoWithONNXData(onnxBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: read inputs and outputs: %w", where, err)
	}
	sig, lay, err := checkSignature(meta, inputs, outputs)
	if err != nil {
		return nil, fmt.Errorf("%s: graph does not match metadata: %w", where, err)
	}

	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("%s: session options: %w", where, err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(opts.IntraOpThreads); err != nil {
		return nil, fmt.Errorf("%s: set intra-op threads to %d: %w", where, opts.IntraOpThreads, err)
	}
	session, err := ort.NewDynamicAdvancedSessionWithONNXData(onnxBytes,
		[]string{meta.InputName}, []string{meta.OutputName}, so)
	if err != nil {
		return nil, fmt.Errorf("%s: create session: %w", where, err)
	}
	m := &Model{
		meta:    meta,
		sig:     sig,
		lay:     lay,
		posIdx:  meta.PositiveIndex(),
		session: session,
	}

	start := time.Now()
	_, err = m.Predict(context.Background(), make([]float32, m.ItemSize()), 1)
	m.warmUp = time.Since(start)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: warm-up inference: %w", where, err)
	}
	return m, nil
}

// customMetadata returns the metadata_props of an ONNX model.
func customMetadata(onnxBytes []byte) (map[string]string, error) {
	md, err := ort.GetModelMetadataWithONNXData(onnxBytes)
	if err != nil {
		return nil, err
	}
	defer md.Destroy()
	keys, err := md.GetCustomMetadataMapKeys()
	if err != nil {
		return nil, fmt.Errorf("metadata keys: %w", err)
	}
	props := make(map[string]string, len(keys))
	for _, k := range keys {
		v, _, err := md.LookupCustomMetadataMap(k)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", k, err)
		}
		props[k] = v
	}
	return props, nil
}

// Metadata returns a copy of the model's metadata.
func (m *Model) Metadata() model.Metadata { return m.meta.Clone() }

// Signature returns a copy of the model's input and output description.
func (m *Model) Signature() Signature { return m.sig.clone() }

// ItemSize returns the number of float32 values of one input image (C*H*W).
func (m *Model) ItemSize() int { return int(m.lay.c * m.lay.h * m.lay.w) }

// WarmUpLatency returns how long the warm-up inference run by Load took.
func (m *Model) WarmUpLatency() time.Duration { return m.warmUp }

// Label returns the positive label when p >= the metadata threshold, else the
// negative label.
func (m *Model) Label(p float64) string { return m.meta.Label(p) }

// PredictOne returns P(positive) for one image of ItemSize values.
func (m *Model) PredictOne(ctx context.Context, x []float32) (float64, error) {
	p, err := m.Predict(ctx, x, 1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

// Predict returns P(positive) for each of the n images in batch, which holds
// n*ItemSize() values in NCHW order, preprocessed as Metadata().Preprocess
// says. Predict neither keeps nor modifies batch. When ctx is cancelled during
// the inference, ONNX Runtime is asked to stop and Predict returns an error
// wrapping ctx.Err().
func (m *Model) Predict(ctx context.Context, batch []float32, n int) ([]float64, error) {
	item := m.ItemSize()
	if n < 1 {
		return nil, fmt.Errorf("predict: n = %d: must be >= 1", n)
	}
	if len(batch)%item != 0 || len(batch)/item != n {
		return nil, fmt.Errorf("predict: batch has %d values, want n*C*H*W = %d*%d*%d*%d = %d",
			len(batch), n, m.lay.c, m.lay.h, m.lay.w, int64(n)*int64(item))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}

	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.session == nil {
		return nil, ErrClosed
	}
	out, err := m.run(ctx, batch, n)
	if err != nil {
		return nil, err
	}
	return m.probabilities(out, n)
}

// run runs the session on batch and returns the raw output values. The caller
// holds m.mu for reading.
func (m *Model) run(ctx context.Context, batch []float32, n int) ([]float32, error) {
	// The input tensor wraps batch without copying it; the output tensor
	// wraps out, which ONNX Runtime fills in place.
	in, err := ort.NewTensor(ort.NewShape(int64(n), m.lay.c, m.lay.h, m.lay.w), batch)
	if err != nil {
		return nil, fmt.Errorf("predict: input tensor: %w", err)
	}
	defer in.Destroy()
	out := make([]float32, n*m.lay.units)
	outShape := ort.NewShape(int64(n), int64(m.lay.units))[:m.lay.outRank]
	outT, err := ort.NewTensor(outShape, out)
	if err != nil {
		return nil, fmt.Errorf("predict: output tensor: %w", err)
	}
	defer outT.Destroy()

	// A context that can be cancelled gets RunOptions whose terminate flag is
	// set on cancellation, which stops a long inference early.
	var ro *ort.RunOptions
	if ctx.Done() != nil {
		ro, err = ort.NewRunOptions()
		if err != nil {
			return nil, fmt.Errorf("predict: run options: %w", err)
		}
		defer ro.Destroy()
		terminated := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			ro.Terminate()
			close(terminated)
		})
		defer func() {
			if !stop() {
				<-terminated // Terminate is running: let it finish before Destroy
			}
		}()
	}
	if err := m.session.RunWithOptions([]ort.Value{in}, []ort.Value{outT}, ro); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("predict: %w (%v)", ctxErr, err)
		}
		return nil, fmt.Errorf("predict: run %s: %w", m.meta.Name, err)
	}
	return out, nil
}

// softmaxTolerance is how far from 1 the sum of a softmax output row may be.
const softmaxTolerance = 1e-3

// probabilities turns raw outputs into P(positive) per item, following the
// output kind. It rejects values that cannot be probabilities (NaN, outside
// [0, 1], softmax rows that do not sum to 1): they mean the graph does not do
// what its metadata says, and a wrong probability must not reach a clinician.
func (m *Model) probabilities(out []float32, n int) ([]float64, error) {
	ps := make([]float64, n)
	units := m.lay.units
	for i := range ps {
		row := out[i*units : (i+1)*units]
		var p float64
		switch m.meta.Output {
		case model.OutputSigmoid:
			p = float64(row[0])
		case model.OutputLogit:
			p = 1 / (1 + math.Exp(-float64(row[0])))
		case model.OutputSoftmax:
			var sum float64
			for _, v := range row {
				if !(v >= 0 && v <= 1) {
					return nil, fmt.Errorf("predict: output %q item %d: %v is not a probability (metadata output %q expects the graph to end with Softmax)",
						m.meta.OutputName, i, row, m.meta.Output)
				}
				sum += float64(v)
			}
			if math.Abs(sum-1) > softmaxTolerance {
				return nil, fmt.Errorf("predict: output %q item %d: %v sums to %g, not 1 (metadata output %q expects the graph to end with Softmax)",
					m.meta.OutputName, i, row, sum, m.meta.Output)
			}
			p = float64(row[m.posIdx])
		}
		if !(p >= 0 && p <= 1) {
			return nil, fmt.Errorf("predict: output %q item %d: P(%s) = %v is not in [0, 1] (metadata output %q)",
				m.meta.OutputName, i, m.meta.PositiveLabel, p, m.meta.Output)
		}
		ps[i] = p
	}
	return ps, nil
}

// Close frees the ONNX Runtime session. It waits for Predict calls in flight;
// later calls to Predict return ErrClosed. Calling Close again does nothing.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.session == nil {
		return nil
	}
	err := m.session.Destroy()
	m.session = nil
	if err != nil {
		return fmt.Errorf("close model %s: %w", m.meta.Name, err)
	}
	return nil
}
