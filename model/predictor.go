package model

import "context"

// Predictor scores batches of preprocessed images. *onnxrt.Model implements it.
//
// Implementations are safe for concurrent use. The caller that created a
// Predictor owns it and calls Close once no call is in flight or to come;
// calls after Close return an error.
type Predictor interface {
	// Metadata returns a copy of the model's metadata.
	Metadata() Metadata
	// Predict returns P(positive) for each of the n images in batch, which
	// holds n*Preprocess.Len() values laid out as NCHW. Predict neither
	// keeps nor modifies batch.
	Predict(ctx context.Context, batch []float32, n int) ([]float64, error)
	// Close releases the model. It is safe to call more than once.
	Close() error
}
