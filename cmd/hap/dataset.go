package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/healthcare-ai/platform/xray/dataset"
)

// runDataset reports the counts per split and class of a data set folder
// and the files it rejected.
func runDataset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dataset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		data    = fs.String("data", "", "data set root: Kaggle layout (train|val|test/NORMAL|PNEUMONIA) or a flat folder of images (required)")
		full    = fs.Bool("full", false, "decode every image instead of checking headers and end markers")
		minSide = fs.Int("min-side", dataset.DefaultMinSide, "reject images with a shorter side")
		workers = fs.Int("workers", runtime.GOMAXPROCS(0), "files checked in parallel")
		strict  = fs.Bool("strict", false, "exit with an error if any file is rejected")
		asJSON  = fs.Bool("json", false, "print a JSON report instead of the table")
	)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: hap dataset -data <root> [flags]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *data == "" {
		return fmt.Errorf("%w: -data is required", errUsage)
	}
	if *workers < 1 || *minSide < 1 {
		return fmt.Errorf("%w: -workers and -min-side must be at least 1", errUsage)
	}
	ds, err := dataset.Load(ctx, *data, dataset.Options{FullDecode: *full, MinSide: *minSide, Workers: *workers})
	if err != nil {
		return err
	}
	if *asJSON {
		report := struct {
			Root    string           `json:"root"`
			Layout  dataset.Layout   `json:"layout"`
			Images  int              `json:"images"`
			Counts  []dataset.Count  `json:"counts"`
			Rejects []dataset.Reject `json:"rejects"`
			Ignored []string         `json:"ignored"`
		}{ds.Root, ds.Layout, len(ds.Items), ds.Counts(), ds.Rejects, ds.Ignored}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%s (layout %s)\n", ds.Root, ds.Layout)
		if err := ds.WriteTable(stdout); err != nil {
			return err
		}
		if len(ds.Rejects) > 0 {
			fmt.Fprintf(stdout, "\nrejected (%d):\n", len(ds.Rejects))
			for _, r := range ds.Rejects {
				fmt.Fprintf(stdout, "  %s\n", r)
			}
		}
		fmt.Fprintf(stdout, "\n%d images, %d rejected, %d ignored (hidden or system files)\n", len(ds.Items), len(ds.Rejects), len(ds.Ignored))
	}
	if *strict && len(ds.Rejects) > 0 {
		return fmt.Errorf("%d files rejected (-strict)", len(ds.Rejects))
	}
	return nil
}
