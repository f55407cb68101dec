package tables

import (
	"bytes"
	"fmt"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/healthcare-ai/platform/proto"
)

// encode writes rows as one Parquet file (zstd, one row group per
// rowGroupSize rows) and returns its bytes.
func encode[T any](rows []T) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.CreatedBy("healthcare-ai-platform", "1", ""),
	)
	for start := 0; start < len(rows); start += rowGroupSize {
		end := min(start+rowGroupSize, len(rows))
		if _, err := w.Write(rows[start:end]); err != nil {
			return nil, fmt.Errorf("write parquet rows: %w", err)
		}
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("flush parquet row group: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("close parquet file: %w", err)
	}
	return buf.Bytes(), nil
}

// rowGroupSize bounds the rows per row group so that readers can skip and
// parallelise within large compacted files.
const rowGroupSize = 64 * 1024

// decode reads every row of a Parquet file written by encode.
func decode[T any](data []byte) ([]T, error) {
	rows, err := parquet.Read[T](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("read parquet: %w", err)
	}
	return rows, nil
}

// EmptyFile returns a Parquet file with table t's schema and no rows.
func EmptyFile(t proto.Table) ([]byte, error) {
	switch t.Name {
	case proto.TableXRayImages.Name:
		return encode[proto.XRayImageRow](nil)
	case proto.TableInferenceLog.Name:
		return encode[proto.InferenceLogRow](nil)
	case proto.TablePredictionFeedback.Name:
		return encode[proto.PredictionFeedbackRow](nil)
	case proto.TableModelPerformance.Name:
		return encode[proto.ModelPerformanceRow](nil)
	case proto.TableExperimentDecisions.Name:
		return encode[proto.ExperimentDecisionRow](nil)
	}
	return nil, fmt.Errorf("no schema for table %s", t.Name)
}
