package tables_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/tables"
)

func inferenceRows(n int) []tables.Dated[proto.InferenceLogRow] {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	out := make([]tables.Dated[proto.InferenceLogRow], n)
	for i := range out {
		e := &proto.InferenceResult{RequestID: fmt.Sprintf("req-%08d", i), Experiment: "pneumonia", Arm: proto.Arms[i%2], Served: true,
			ConfiguredSplit: proto.Split{Champion: 50, Challenger: 50}, ModelName: "pneumonia-simplecnn", ModelVersion: "1",
			Status: proto.StatusOK, StatusCode: 200, Label: proto.LabelPneumonia, Probability: float64(i%1000) / 1000, Threshold: 0.5,
			LatencyMS: 3.2, Image: proto.ImageRef{Key: fmt.Sprintf("bronze/images/date=2026-11-28/%064d.jpeg", i), URI: "file:///x", SHA256: fmt.Sprintf("%064d", i), Format: "jpeg", Width: 1024, Height: 1024},
			RoutedAt: at, CompletedAt: at.Add(time.Duration(i) * time.Millisecond)}
		r, err := tables.InferenceResultRow(e, uint64(i+1))
		if err != nil {
			panic(err)
		}
		out[i] = r
	}
	return out
}

// BenchmarkWriteInferencePart measures a flush of 10,000 inference-log rows
// (the default FlushRows) to a local folder: encode (zstd) and atomic Put.
func BenchmarkWriteInferencePart(b *testing.B) {
	dated := inferenceRows(10000)
	rows := make([]proto.InferenceLogRow, len(dated))
	for i, d := range dated {
		rows[i] = d.Row
	}
	st, err := blob.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var size int64
	for i := range b.N {
		p := tables.Part{Table: proto.TableInferenceLog, Date: "2026-11-28", First: uint64(i*10000 + 1), Last: uint64(i*10000 + 10000)}
		if err := tables.WritePart(b.Context(), st, p, rows); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			info, _ := st.Stat(b.Context(), p.Key())
			size = info.Size
		}
	}
	b.ReportMetric(float64(len(rows)*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(size)/float64(len(rows)), "bytes/row")
}
