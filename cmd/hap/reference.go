package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/healthcare-ai/platform/driftstat"
	"github.com/healthcare-ai/platform/model"
	"github.com/healthcare-ai/platform/model/onnxrt"
	"github.com/healthcare-ai/platform/registry"
	"github.com/healthcare-ai/platform/services/predictor"
	"github.com/healthcare-ai/platform/xray/synth"
)

// Settings of scripts/train.sh: the committed models' training data.
const (
	trainSeed        = 20261128
	trainPerClass    = 1500
	valPerClass      = 250
	testPerClass     = 1000
	referenceDefault = 1000
)

const referenceUsage = `usage: hap models reference [flags] MODEL.onnx...

Computes each model's drift reference (driftstat.Reference: the pooled input
histogram, the per-image input means and the probabilities of the model, with
its own preprocessing) on N training images regenerated from the synthetic
generator with the settings of scripts/train.sh, and stores it in the ONNX
file's metadata_props under "` + driftstat.PropertyKey + `" (-write) or prints it.
The images are rendered once and fed to every model given.
With -write, the model card (<name>.card.json, .card.md) and parity fixture
(<name>.parity.json) next to the file get the new size and sha256.

flags:`

// runModelsReference implements "hap models reference" (offline: no NATS).
func runModelsReference(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("models reference", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, referenceUsage)
		fs.PrintDefaults()
	}
	n := fs.Int("n", referenceDefault, "training images to use (half normal, half pneumonia: the first N/2 of each train folder)")
	seed := fs.Uint64("seed", trainSeed, "seed of the training data set (scripts/train.sh SEED)")
	perClass := fs.Int("train-n", trainPerClass, "training images per class of the data set (scripts/train.sh TRAIN_N)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "images rendered in parallel")
	write := fs.Bool("write", false, "store the reference in the ONNX file (rewrites only its metadata_props)")
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		return fmt.Errorf("%w: at least one MODEL.onnx is required", errUsage)
	}
	if *n < 2 || *n/2 > *perClass || *workers < 1 {
		return fmt.Errorf("%w: -n %d: must be between 2 and 2*train-n (%d); -workers at least 1", errUsage, *n, 2**perClass)
	}
	o := synth.DefaultOptions()
	o.Seed = *seed
	o.Train = synth.Counts{Normal: *perClass, Pneumonia: *perClass}
	o.Val = synth.Counts{Normal: valPerClass, Pneumonia: valPerClass}
	o.Test = synth.Counts{Normal: testPerClass, Pneumonia: testPerClass}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	lib, err := onnxrt.LibraryPath()
	if err != nil {
		return err
	}
	if err := onnxrt.Init(lib); err != nil {
		return err
	}
	type target struct {
		path    string
		data    []byte
		m       *onnxrt.Model
		md      model.Metadata
		builder *driftstat.Builder
		mu      sync.Mutex
	}
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.m.Close()
		}
	}()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		m, err := onnxrt.Load(data, onnxrt.Options{})
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		md := m.Metadata()
		spec := predictor.SpecOf(md)
		lo, hi := driftstat.Range(spec.Scale, spec.Mean, spec.Std)
		targets = append(targets, &target{path: f, data: data, m: m, md: md, builder: driftstat.NewBuilder(lo, hi)})
	}
	start := time.Now()
	type job struct {
		class synth.Class
		index int
	}
	jobs := make(chan job)
	errc := make(chan error, *workers)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := referenceImage(ctx, o, j.class, j.index, func(data []byte) error {
					for _, t := range targets {
						spec := predictor.SpecOf(t.md)
						res, err := spec.Decode(data)
						if err != nil {
							return err
						}
						st := predictor.InputStats(spec, res.Tensor)
						p, err := t.m.PredictOne(ctx, res.Tensor)
						if err != nil {
							return err
						}
						t.mu.Lock()
						err = t.builder.Add(st, p)
						t.mu.Unlock()
						if err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					errc <- fmt.Errorf("train/%s/%d: %w", j.class, j.index, err)
					return
				}
			}
		}()
	}
	func() {
		defer close(jobs)
		for i := range *n / 2 {
			for _, c := range []synth.Class{synth.Normal, synth.Pneumonia} {
				select {
				case jobs <- job{c, i}:
				case err := <-errc:
					errc <- err
					return
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	wg.Wait()
	close(errc)
	if err := errors.Join(<-errc, ctx.Err()); err != nil {
		return err
	}
	elapsed := time.Since(start)
	optsJSON, _ := json.Marshal(o)
	for _, t := range targets {
		ref, err := t.builder.Reference(t.md.Threshold)
		if err != nil {
			return err
		}
		ref.Model, ref.ModelVersion = t.md.Name, t.md.Version
		ref.Source = fmt.Sprintf("hap models reference: xray/synth train split, the first %d normal and %d pneumonia images, JPEG q%d, options %s",
			*n/2, *n/2, o.Quality, optsJSON)
		ref.CreatedAt = time.Now().UTC().Format(time.RFC3339)
		ref.ComputeSeconds = float64(elapsed.Milliseconds()) / 1000
		if err := ref.Validate(); err != nil {
			return err
		}
		js, err := json.Marshal(ref)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d images in %s (%d models), positive rate %.3f at threshold %.4g, input mean %.3f, reference %d bytes\n",
			t.path, ref.Images, elapsed.Round(100*time.Millisecond), len(targets), ref.PositiveRate, ref.Threshold, meanOf(ref.Means), len(js))
		if !*write {
			fmt.Fprintf(stdout, "%s\n", js)
			continue
		}
		out, err := model.WithProperty(t.data, driftstat.PropertyKey, string(js))
		if err != nil {
			return fmt.Errorf("%s: %w", t.path, err)
		}
		if err := writeFileAtomic(t.path, out); err != nil {
			return err
		}
		updated, err := updateModelFixtures(t.path, t.data, out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  wrote %s (%d -> %d bytes); updated %s\n", t.path, len(t.data), len(out), strings.Join(updated, ", "))
	}
	return nil
}

// referenceImage renders one training image exactly as `hap generate` writes
// it (JPEG at the data set's quality) and passes the bytes to fn.
func referenceImage(ctx context.Context, o synth.Options, class synth.Class, index int, fn func([]byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	img, _, err := synth.Render(o, synth.Train, class, index)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: o.Quality}); err != nil {
		return err
	}
	return fn(buf.Bytes())
}

func meanOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(len(v), 1))
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// updateModelFixtures rewrites the size and sha256 of the ONNX file in the
// model card (card.json, card.md) and parity fixture next to it, by text
// replacement so that nothing else in them changes.
func updateModelFixtures(path string, old, new []byte) ([]string, error) {
	sum := func(b []byte) string {
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:])
	}
	oldSum, newSum := sum(old), sum(new)
	oldN, newN := strconv.Itoa(len(old)), strconv.Itoa(len(new))
	base := strings.TrimSuffix(path, ".onnx")
	var updated []string
	for _, f := range []struct {
		path     string
		sizeFrom string
		sizeTo   string
	}{
		{base + registry.CardSuffix, `"bytes": ` + oldN + ",", `"bytes": ` + newN + ","},
		{base + ".card.md", oldN + " bytes, sha256", newN + " bytes, sha256"},
		{base + ".parity.json", "", ""},
	} {
		data, err := os.ReadFile(f.path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return updated, err
		}
		s := strings.ReplaceAll(string(data), oldSum, newSum)
		if f.sizeFrom != "" {
			s = strings.Replace(s, f.sizeFrom, f.sizeTo, 1)
		}
		if s == string(data) {
			continue
		}
		if err := writeFileAtomic(f.path, []byte(s)); err != nil {
			return updated, err
		}
		updated = append(updated, filepath.Base(f.path))
	}
	return updated, nil
}
