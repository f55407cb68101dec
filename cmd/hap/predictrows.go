package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// rowWriter streams prediction rows to a file. Close finishes the file and
// moves it from its ".partial" name into place: a reader of the named file
// never sees a truncated one.
type rowWriter interface {
	Write(predictionRow) error
	Close() error
}

// rowGroupRows bounds the rows the Parquet writer buffers before it writes a
// row group, and so its memory.
const rowGroupRows = 8192

// createRowWriter creates the writer for format (".parquet" or ".csv").
func createRowWriter(path, format string) (rowWriter, error) {
	partial := path + ".partial"
	f, err := os.Create(partial)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", partial, err)
	}
	fw := fileWriter{f: f, path: path}
	if format == ".csv" {
		bw := bufio.NewWriterSize(f, 64<<10)
		w := &csvRows{fileWriter: fw, bw: bw, w: csv.NewWriter(bw)}
		if err := w.w.Write(csvHeader); err != nil {
			fw.abort()
			return nil, fmt.Errorf("write %s: %w", partial, err)
		}
		return w, nil
	}
	return &parquetRows{fileWriter: fw, w: parquet.NewGenericWriter[predictionRow](f,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.CreatedBy("hap batch-predict", "1", ""),
	)}, nil
}

// fileWriter is the file under its partial name.
type fileWriter struct {
	f    *os.File
	path string
}

// commit closes the file after flush and renames it into place.
func (fw fileWriter) commit(flush error) error {
	partial := fw.f.Name()
	if flush != nil {
		fw.abort()
		return fmt.Errorf("write %s: %w", partial, flush)
	}
	if err := errors.Join(fw.f.Sync(), fw.f.Close()); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("close %s: %w", partial, err)
	}
	if err := os.Rename(partial, fw.path); err != nil {
		return fmt.Errorf("rename %s: %w", partial, err)
	}
	return nil
}

func (fw fileWriter) abort() {
	_ = fw.f.Close()
	_ = os.Remove(fw.f.Name())
}

type parquetRows struct {
	fileWriter
	w       *parquet.GenericWriter[predictionRow]
	pending int
}

func (p *parquetRows) Write(r predictionRow) error {
	if _, err := p.w.Write([]predictionRow{r}); err != nil {
		return fmt.Errorf("write parquet row: %w", err)
	}
	if p.pending++; p.pending >= rowGroupRows {
		p.pending = 0
		if err := p.w.Flush(); err != nil {
			return fmt.Errorf("flush parquet row group: %w", err)
		}
	}
	return nil
}

func (p *parquetRows) Close() error { return p.commit(p.w.Close()) }

type csvRows struct {
	fileWriter
	bw *bufio.Writer
	w  *csv.Writer
}

// csvHeader names the CSV columns: the Parquet column names.
var csvHeader = []string{"file", "dataset_label", "dataset_split", "request_id", "arm", "served_model_name",
	"model_version", "label", "probability", "threshold", "latency_ms", "error", "error_type"}

func (c *csvRows) Write(r predictionRow) error {
	num := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'g', -1, 64)
	}
	return c.w.Write([]string{r.File, r.DatasetLabel, r.DatasetSplit, r.RequestID, r.Arm, r.ModelName,
		r.ModelVersion, r.Label, num(r.Probability), num(r.Threshold), num(r.LatencyMS), r.Error, r.ErrorType})
}

func (c *csvRows) Close() error {
	c.w.Flush()
	return c.commit(errors.Join(c.w.Error(), c.bw.Flush()))
}
