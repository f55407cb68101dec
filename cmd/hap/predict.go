package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/healthcare-ai/platform/client"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/services/ingestor"
)

// apiTarget is where the commands that call the platform's HTTP API send
// their requests, and as whom.
type apiTarget struct{ url, token *string }

// apiFlags adds the -url and -token flags of the commands that call the
// platform's HTTP API.
func apiFlags(fs *flag.FlagSet) apiTarget {
	return apiTarget{
		url:   fs.String("url", envOr("HAP_URL", client.DefaultURL), "platform `URL` (env HAP_URL)"),
		token: fs.String("token", os.Getenv("HAP_TOKEN"), "bearer `token` of your user (env HAP_TOKEN; `hap serve` writes the local ones to <data>/tokens.txt)"),
	}
}

// client returns an API client of the target.
func (a apiTarget) client(opts ...client.Option) (*client.Client, error) {
	return client.New(*a.url, append(opts, client.WithToken(*a.token))...)
}

// imageExtensions are the files a folder walk sends (compared without case),
// as the ingestor's folder ingestion.
var imageExtensions = map[string]bool{".jpeg": true, ".jpg": true, ".png": true, ".dcm": true}

// imageItems yields the images under paths in lexical order: a file as
// given (whatever its extension), a folder walked for JPEG, PNG and DICOM
// files (hidden files and folders and __MACOSX skipped). Each item carries
// the label and split its folders say and is sent named by its Kaggle dataset
// path ("test/NORMAL/x.jpeg", see ingestor.DatasetPath), or by its path
// relative to the folder given (its base name for a file given) outside that
// layout.
// Folders that cannot be read are appended to *walkErrs.
func imageItems(paths []string, walkErrs *[]error) iter.Seq[client.BatchItem] {
	item := func(path, rel string) client.BatchItem {
		// The folders above the root count too: "-in data/chest_xray/test"
		// still knows the split.
		full := path
		if abs, err := filepath.Abs(path); err == nil {
			full = abs
		}
		label, split, name := ingestor.DatasetPath(filepath.ToSlash(full))
		if label == "" {
			name = filepath.ToSlash(rel) // never a local absolute path
		}
		return client.BatchItem{Path: path, Name: name, DatasetLabel: label, DatasetSplit: split}
	}
	return func(yield func(client.BatchItem) bool) {
		for _, root := range paths {
			fi, err := os.Stat(root)
			if err != nil || !fi.IsDir() {
				// A file, or a path that fails when read: its result says why.
				if !yield(item(root, filepath.Base(root))) {
					return
				}
				continue
			}
			stop := errors.New("stop")
			err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					*walkErrs = append(*walkErrs, err)
					return nil // skip what cannot be read
				}
				name := d.Name()
				if path != root && (strings.HasPrefix(name, ".") || name == "__MACOSX") {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if d.IsDir() || !imageExtensions[strings.ToLower(filepath.Ext(name))] {
					return nil
				}
				rel, err := filepath.Rel(root, path)
				if err != nil {
					rel = path
				}
				if !yield(item(path, rel)) {
					return stop
				}
				return nil
			})
			if errors.Is(err, stop) {
				return
			}
		}
	}
}

// predictionRow is one image's line of `hap predict -json` and row of
// `hap batch-predict` (Parquet, zstd; or CSV with the same columns). A
// failed image has Error (and ErrorType, the problem type URI, when the
// server answered) and null probability, threshold and latency.
type predictionRow struct {
	File         string   `parquet:"file,zstd" json:"file"`
	DatasetLabel string   `parquet:"dataset_label,zstd" json:"dataset_label"`
	DatasetSplit string   `parquet:"dataset_split,zstd" json:"dataset_split"`
	RequestID    string   `parquet:"request_id,zstd" json:"request_id"`
	Arm          string   `parquet:"arm,zstd" json:"arm"`
	ModelName    string   `parquet:"served_model_name,zstd" json:"served_model_name"`
	ModelVersion string   `parquet:"model_version,zstd" json:"model_version"`
	Label        string   `parquet:"label,zstd" json:"label"`
	Probability  *float64 `parquet:"probability,optional,zstd" json:"probability"`
	Threshold    *float64 `parquet:"threshold,optional,zstd" json:"threshold"`
	LatencyMS    *float64 `parquet:"latency_ms,optional,zstd" json:"latency_ms"`
	Error        string   `parquet:"error,zstd" json:"error"`
	ErrorType    string   `parquet:"error_type,zstd" json:"error_type"`
}

// rowOf turns a result into a row whose file column is file.
func rowOf(file string, r client.BatchResult) predictionRow {
	row := predictionRow{File: file, DatasetLabel: r.DatasetLabel, DatasetSplit: r.DatasetSplit}
	if p := r.Prediction; p != nil {
		row.RequestID, row.Arm, row.ModelName, row.ModelVersion, row.Label = p.RequestID, p.Arm, p.ModelName, p.ModelVersion, p.Label
		row.Probability, row.Threshold, row.LatencyMS = &p.Probability, &p.Threshold, &p.LatencyMS
		return row
	}
	if r.Err == nil {
		r.Err = errors.New("no prediction")
	}
	row.Error = r.Err.Error()
	var pr *problem.Problem
	if errors.As(r.Err, &pr) {
		row.ErrorType, row.RequestID = pr.Type, pr.RequestID
	}
	return row
}

// runPredict implements "hap predict FILE|FOLDER...": one synchronous
// prediction per image, one line per image.
func runPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per image (file, dataset_label, request_id, arm, served_model_name, model_version, label, probability, threshold, latency_ms, error, error_type), failures included")
	workers := fs.Int("concurrency", 1, "images predicted at once (above 1, lines come in completion order)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: hap predict [flags] FILE|FOLDER...

Sends each image (JPEG, PNG, DICOM .dcm; folders are walked) to POST /v1/predict
and prints one line per image: file, request_id, arm, model@version, label,
probability (tab-separated). A failed image is reported on stderr (or as a JSON
line with -json); the exit code is 1 if any image failed, after all are done.`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("%w: want at least one FILE or FOLDER", errUsage)
	}
	if *workers < 1 {
		return fmt.Errorf("%w: -concurrency %d: must be at least 1", errUsage, *workers)
	}
	c, err := api.client()
	if err != nil {
		return fmt.Errorf("%w: -url: %v", errUsage, err)
	}
	var walkErrs []error
	var n, failed int
	enc := json.NewEncoder(stdout)
	err = c.PredictBatch(ctx, imageItems(fs.Args(), &walkErrs), *workers, func(r client.BatchResult) error {
		n++
		if r.Err != nil {
			failed++
		}
		switch {
		case *asJSON:
			return enc.Encode(rowOf(r.Path, r))
		case r.Err != nil:
			fmt.Fprintf(stderr, "hap predict: %s: %v\n", r.Path, r.Err)
		default:
			p := r.Prediction
			_, err := fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\t%.4f\n", r.Path, p.RequestID, p.Arm, p.Model(), p.Label, p.Probability)
			return err
		}
		return nil
	})
	for _, e := range walkErrs {
		fmt.Fprintf(stderr, "hap predict: %v\n", e)
	}
	switch {
	case err != nil:
		return err
	case n == 0:
		return fmt.Errorf("no image files (.jpeg, .jpg, .png, .dcm) in %s", strings.Join(fs.Args(), ", "))
	case failed > 0 || len(walkErrs) > 0:
		return failure(failed, n, "", len(walkErrs))
	}
	return nil
}

// failure is the error of a run in which some images failed or some folders
// could not be read (walkErrs is read once PredictBatch has returned, after
// the walk stopped).
func failure(failed, images int, where string, unreadable int) error {
	var parts []string
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d images failed%s", failed, images, where))
	}
	if unreadable > 0 {
		parts = append(parts, fmt.Sprintf("%d folders could not be read", unreadable))
	}
	return errors.New(strings.Join(parts, "; "))
}

// runBatchPredict implements "hap batch-predict": the SDK path for
// thousands of images, streamed to a Parquet or CSV file.
func runBatchPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("batch-predict", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	in := fs.String("in", "", "`folder` of images, walked for .jpeg, .jpg, .png and .dcm files; the Kaggle layout ({train,val,test}/{NORMAL,PNEUMONIA}) gives each row its dataset label and split (required)")
	out := fs.String("out", "", "result `file`: .parquet (zstd) or .csv, chosen by the extension (required)")
	workers := fs.Int("concurrency", 4, "predictions in flight at once")
	failFast := fs.Bool("fail-fast", false, "stop at the first failed image (the rows so far are kept)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: hap batch-predict -in FOLDER -out results.parquet|results.csv [flags]

Sends every image under FOLDER to POST /v1/predict with N concurrent requests and
writes one row per image: file, dataset_label, dataset_split, request_id, arm,
served_model_name, model_version, label, probability, threshold, latency_ms, error,
error_type. A failed image is a row with its error, not a stop (unless -fail-fast).
Rows are streamed to the file (written as FILE.partial, renamed when closed); images
are never held beyond the requests in flight. Prints the throughput at the end.
Exit code: 0 if every image was predicted, 1 if any failed (all rows are still
written) or the run was cut short, 2 for bad flags.`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		fs.Usage()
		return fmt.Errorf("%w: -in and -out are required", errUsage)
	}
	if *workers < 1 {
		return fmt.Errorf("%w: -concurrency %d: must be at least 1", errUsage, *workers)
	}
	format := strings.ToLower(filepath.Ext(*out))
	if format != ".parquet" && format != ".csv" {
		return fmt.Errorf("%w: -out %q: the extension must be .parquet or .csv", errUsage, *out)
	}
	c, err := api.client()
	if err != nil {
		return fmt.Errorf("%w: -url: %v", errUsage, err)
	}
	if fi, err := os.Stat(*in); err != nil {
		return fmt.Errorf("-in: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("-in %s: not a folder", *in)
	}
	w, err := createRowWriter(*out, format)
	if err != nil {
		return err
	}
	sum := batchSummary{Out: *out, Concurrency: *workers, Arms: map[string]int{}}
	var walkErrs []error
	errFailFast := errors.New("stopped at the first failed image (-fail-fast)")
	start := time.Now()
	runErr := c.PredictBatch(ctx, imageItems([]string{*in}, &walkErrs), *workers, func(r client.BatchResult) error {
		file, err := filepath.Rel(*in, r.Path)
		if err != nil {
			file = r.Path
		}
		row := rowOf(filepath.ToSlash(file), r)
		if err := w.Write(row); err != nil {
			return err
		}
		sum.add(row)
		if *failFast && r.Err != nil {
			return fmt.Errorf("%w: %s: %v", errFailFast, row.File, r.Err)
		}
		return nil
	})
	sum.Seconds = time.Since(start).Seconds()
	if runErr != nil && ctx.Err() != nil && errors.Is(runErr, ctx.Err()) {
		runErr = fmt.Errorf("interrupted after %d images (the rows so far are in %s): %w", sum.Images, *out, runErr)
	}
	if err := w.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if sum.Seconds > 0 {
		sum.PerSecond = float64(sum.Images) / sum.Seconds
	}
	for _, e := range walkErrs {
		fmt.Fprintf(stderr, "hap batch-predict: %v\n", e)
	}
	sum.Complete = runErr == nil
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(sum); err != nil {
			return err
		}
	} else {
		sum.print(stdout)
	}
	switch {
	case runErr != nil:
		return runErr
	case sum.Images == 0:
		return fmt.Errorf("no image files (.jpeg, .jpg, .png, .dcm) under %s", *in)
	case sum.Failed > 0 || len(walkErrs) > 0:
		return failure(sum.Failed, sum.Images, " (see the error column of "+*out+")", len(walkErrs))
	}
	return nil
}

// batchSummary is what batch-predict prints at the end.
type batchSummary struct {
	Out         string         `json:"out"`
	Complete    bool           `json:"complete"` // every image was sent and its row written
	Images      int            `json:"images"`   // rows written
	Predicted   int            `json:"predicted"`
	Failed      int            `json:"failed"`
	Seconds     float64        `json:"seconds"`
	PerSecond   float64        `json:"images_per_second"`
	Concurrency int            `json:"concurrency"`
	Arms        map[string]int `json:"arms"`     // predictions per arm
	Labelled    int            `json:"labelled"` // predictions of images with a dataset label
	Agree       int            `json:"agree"`    // ... whose predicted label is the dataset label
}

func (s *batchSummary) add(r predictionRow) {
	s.Images++
	if r.Error != "" {
		s.Failed++
		return
	}
	s.Predicted++
	s.Arms[r.Arm]++
	if r.DatasetLabel != "" {
		s.Labelled++
		if r.DatasetLabel == r.Label {
			s.Agree++
		}
	}
}

func (s *batchSummary) print(w io.Writer) {
	fmt.Fprintf(w, "%d images in %.2fs: %.1f images/s with concurrency %d; %d predicted, %d failed\n",
		s.Images, s.Seconds, s.PerSecond, s.Concurrency, s.Predicted, s.Failed)
	fmt.Fprintf(w, "  wrote %d rows to %s", s.Images, s.Out)
	if !s.Complete {
		fmt.Fprint(w, " (cut short)")
	}
	fmt.Fprintln(w)
	if s.Predicted > 0 {
		fmt.Fprintf(w, "  by arm: champion %d, challenger %d\n", s.Arms["champion"], s.Arms["challenger"])
	}
	if s.Labelled > 0 {
		fmt.Fprintf(w, "  predicted label = dataset label: %d of %d (%.1f%%)\n", s.Agree, s.Labelled, 100*float64(s.Agree)/float64(s.Labelled))
	}
}
