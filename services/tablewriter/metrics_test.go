package tablewriter_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/services/tablewriter"
)

// TestMetrics writes rows through a store outage and checks the rows
// counter, the flush histogram and the flush errors.
func TestMetrics(t *testing.T) {
	env := bustest.Start(t)
	store := &flakyStore{Store: newDir(t)}
	cfg := testConfig()
	cfg.Tables = []string{"inference_log"}
	reg := prometheus.NewPedanticRegistry()
	svc, err := tablewriter.New(cfg, tablewriter.Deps{JS: env.JS, Store: store, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	table := proto.TableInferenceLog.Name
	values := func() (rows, errs float64, flushes uint64) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() != table {
					t.Fatalf("%s: series of table %q", mf.GetName(), m.GetLabel()[0].GetValue())
				}
				switch mf.GetName() {
				case "hap_tablewriter_rows_written_total":
					rows = m.GetCounter().GetValue()
				case "hap_tablewriter_flush_errors_total":
					errs = m.GetCounter().GetValue()
				case "hap_tablewriter_flush_duration_seconds":
					flushes = m.GetHistogram().GetSampleCount()
				}
			}
		}
		return rows, errs, flushes
	}
	if rows, errs, flushes := values(); rows != 0 || errs != 0 || flushes != 0 {
		t.Fatalf("before any row: rows %v errors %v flushes %d, want zeros present", rows, errs, flushes)
	}
	store.down.Store(true)
	const n = 60
	for i := range n {
		publish(t, env.JS, proto.InferenceResultSubject(proto.Arms[i%2]), result(i))
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if _, errs, _ := values(); errs < 2 {
			return fmt.Errorf("%v flush errors so far", errs)
		}
		return nil
	})
	store.down.Store(false)
	waitExactlyOnce(t, store, n)
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if rows, _, flushes := values(); rows != n || flushes == 0 {
			return fmt.Errorf("rows %v flushes %d, want %d rows", rows, flushes, n)
		}
		return nil
	})
}
