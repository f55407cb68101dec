package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// BatchItem is one image file of PredictBatch.
type BatchItem struct {
	// Path is the file to read.
	Path string
	// Name is the file name sent with the image (default: the base name of
	// Path). `hap batch-predict` sends the Kaggle dataset path
	// ("test/NORMAL/x.jpeg").
	Name string
	// DatasetLabel and DatasetSplit are the image's known label and split,
	// when its folder says (carried to the result; not sent).
	DatasetLabel string
	DatasetSplit string
}

// BatchResult is the outcome of one BatchItem.
type BatchResult struct {
	BatchItem
	// Seq is the position of the item in the input, from 0.
	Seq int
	// Prediction is the answer; nil when Err is set.
	Prediction *Prediction
	// Err is why the image has no prediction: the file could not be read,
	// the server rejected it (a *problem.Problem), or a transport error.
	Err error
	// Elapsed runs from reading the file to the answer, retries included.
	Elapsed time.Duration
}

// MaxFileBytes bounds the size of a file PredictBatch reads; larger files
// are failed results without a request (the server's own limit is lower).
const MaxFileBytes = 256 << 20

// PredictBatch predicts every item with at most workers concurrent calls of
// Predict and hands each result to emit, one at a time (emit needs no
// locking), in completion order. Memory stays bounded: items are pulled
// from the sequence as workers free up, and at most workers images are in
// memory at once.
//
// A failed image is a result with Err, not a stop. PredictBatch returns nil
// once every item has been emitted; emit's error if emit fails (the items in
// flight are then abandoned and not emitted, and no further item is pulled);
// or ctx's error if ctx ends first (results that completed are still
// emitted, the ones cut short by ctx are not). It returns only after the
// iteration over items has stopped and every worker has finished.
func (c *Client) PredictBatch(ctx context.Context, items iter.Seq[BatchItem], workers int, emit func(BatchResult) error, opts ...ImageOption) error {
	workers = max(workers, 1)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		item BatchItem
		seq  int
	}
	jobs := make(chan job)
	results := make(chan BatchResult, workers)
	go func() {
		defer close(jobs)
		seq := 0
		for it := range items {
			if ctx.Err() != nil {
				return
			}
			select {
			case jobs <- job{it, seq}:
				seq++
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				results <- c.predictFile(ctx, j.item, j.seq, opts)
			}
		})
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	var emitErr error
	for r := range results {
		if emitErr != nil {
			continue // drain
		}
		if r.Err != nil && ctx.Err() != nil && errors.Is(r.Err, ctx.Err()) {
			continue // cut short by the caller
		}
		if err := emit(r); err != nil {
			emitErr = err
			cancel()
		}
	}
	if emitErr != nil {
		return emitErr
	}
	return parent.Err()
}

func (c *Client) predictFile(ctx context.Context, it BatchItem, seq int, opts []ImageOption) BatchResult {
	start := time.Now()
	r := BatchResult{BatchItem: it, Seq: seq}
	if r.Name == "" {
		r.Name = filepath.Base(it.Path)
	}
	if err := ctx.Err(); err != nil {
		r.Err = err
		return r
	}
	data, err := readFile(it.Path)
	if err == nil {
		r.Prediction, err = c.Predict(ctx, data, append([]ImageOption{FileName(r.Name)}, opts...)...)
	}
	r.Err, r.Elapsed = err, time.Since(start)
	return r
}

// readFile reads at most MaxFileBytes of a file.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, MaxFileBytes)
	}
	return data, nil
}
