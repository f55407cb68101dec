package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/healthcare-ai/platform/blob"
	"github.com/healthcare-ai/platform/blob/s3blob"
	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/tables"
	"github.com/healthcare-ai/platform/tables/query"
)

// storeFlags select the blob store of a platform deployment: a folder (the
// default, <data>/blobs) or an S3 location, and the environment prefix.
type storeFlags struct {
	data string
	blob string
	env  string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.data, "data", "var/hap", "platform state `dir` (its blobs/ folder is the default store)")
	fs.StringVar(&s.blob, "blob", os.Getenv("HAP_BLOB"), "blob store: "+s3blob.Usage+" (default <data>/blobs; env HAP_BLOB)")
	fs.StringVar(&s.env, "env", envOr("HAP_ENV", "dev"), "environment `name` (dev, pilot, prod): keys live under <env>/ in the store (env HAP_ENV)")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// location is the store as given: a folder path or an s3:// URL.
func (s *storeFlags) location() string {
	if s.blob != "" {
		return s.blob
	}
	return filepath.Join(s.data, "blobs")
}

// open opens the base store (without the environment prefix).
func (s *storeFlags) open(ctx context.Context) (blob.Store, error) {
	if err := proto.ValidToken(s.env); err != nil {
		return nil, fmt.Errorf("%w: -env %q: %v", errUsage, s.env, err)
	}
	if !s3blob.IsURL(s.location()) {
		if _, err := os.Stat(s.location()); err != nil {
			return nil, fmt.Errorf("blob store %s: %w (has the platform run with -data %s?)", s.location(), err, s.data)
		}
	}
	return s3blob.Open(ctx, s.location())
}

// tablesStore opens the environment's view of the store.
func (s *storeFlags) tablesStore(ctx context.Context) (blob.Store, error) {
	base, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	return blob.WithPrefix(base, s.env)
}

// runSQL implements "hap sql": SQL over the lakehouse tables with DuckDB.
func runSQL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := flag.NewFlagSet("sql", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf.register(fs)
	report := fs.String("report", "", "run a shipped report: comparison (per model, all time) or daily (per model and day)")
	expr := fs.String("e", "", "SQL to run (statements separated by ';'; the last one's rows are printed)")
	file := fs.String("f", "", "`file` of SQL to run")
	format := fs.String("format", "table", "output: table, csv or json")
	cache := fs.String("cache", "", "local `dir` to copy S3 tables into before querying (default var/sql-cache/<env>)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: hap sql [flags] (-report NAME | -e SQL | -f FILE)

Views: xray_images, inference_log, prediction_feedback, model_performance (the
tables, with their 'date' partition), model_performance_live (predictions joined
with the radiologists' verdicts: is_correct, confusion), verdicts, feedback_once.

`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	var text string
	switch n := btoi(*report != "") + btoi(*expr != "") + btoi(*file != ""); {
	case n != 1:
		return fmt.Errorf("%w: give exactly one of -report, -e, -f", errUsage)
	case *report != "":
		name, ok := query.Reports[*report]
		if !ok {
			return fmt.Errorf("%w: -report %q: want comparison or daily", errUsage, *report)
		}
		text, _ = query.SQLFile(name)
	case *expr != "":
		text = *expr
	default:
		b, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		text = string(b)
	}
	if *format != "table" && *format != "csv" && *format != "json" {
		return fmt.Errorf("%w: -format %q: want table, csv or json", errUsage, *format)
	}
	root, err := tablesRoot(ctx, sf, *cache, stderr)
	if err != nil {
		return err
	}
	db, err := query.Open(ctx, root)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Query(ctx, text)
	if err != nil {
		return err
	}
	return printResult(stdout, res, *format)
}

// tablesRoot returns the local folder that holds the environment's tables/:
// the store's own folder, or a mirror of S3 refreshed now.
func tablesRoot(ctx context.Context, sf storeFlags, cache string, stderr io.Writer) (string, error) {
	if !s3blob.IsURL(sf.location()) {
		if err := proto.ValidToken(sf.env); err != nil {
			return "", fmt.Errorf("%w: -env %q: %v", errUsage, sf.env, err)
		}
		return filepath.Join(sf.location(), sf.env), nil
	}
	store, err := sf.tablesStore(ctx)
	if err != nil {
		return "", err
	}
	if cache == "" {
		cache = filepath.Join("var", "sql-cache", sf.env)
	}
	start := time.Now()
	st, err := tables.Sync(ctx, store, cache)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(stderr, "synced tables from %s to %s: %d copied (%d bytes), %d unchanged, %d removed in %s\n",
		sf.location(), cache, st.Copied, st.Bytes, st.Kept, st.Removed, time.Since(start).Round(time.Millisecond))
	return cache, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func printResult(w io.Writer, res *query.Result, format string) error {
	cell := func(v any) string {
		switch x := v.(type) {
		case nil:
			return ""
		case time.Time:
			if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
				return x.Format(time.DateOnly)
			}
			return x.UTC().Format(time.RFC3339Nano)
		case []byte:
			return string(x)
		}
		return fmt.Sprint(v)
	}
	switch format {
	case "json":
		out := make([]map[string]any, 0, len(res.Rows))
		for _, row := range res.Rows {
			m := map[string]any{}
			for i, c := range res.Columns {
				m[c] = row[i]
			}
			out = append(out, m)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(res.Columns)
		for _, row := range res.Rows {
			rec := make([]string, len(row))
			for i, v := range row {
				rec[i] = cell(v)
			}
			_ = cw.Write(rec)
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
	for _, row := range res.Rows {
		rec := make([]string, len(row))
		for i, v := range row {
			rec[i] = cell(v)
		}
		fmt.Fprintln(tw, strings.Join(rec, "\t"))
	}
	fmt.Fprintf(tw, "(%d rows)\n", len(res.Rows))
	return tw.Flush()
}

// runTables implements "hap tables": list and compact the lakehouse tables.
func runTables(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "ls" && args[0] != "compact") {
		fmt.Fprintln(stderr, "usage: hap tables ls|compact [flags]\n\n  ls       parts, rows committed and checkpoint of each table\n  compact  merge the small parts of each partition (query results do not change)")
		return fmt.Errorf("%w: want a subcommand: ls or compact", errUsage)
	}
	sub := args[0]
	var sf storeFlags
	fs := flag.NewFlagSet("tables "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf.register(fs)
	table := fs.String("table", "", "only this table (default: all)")
	minParts := fs.Int("min-parts", 2, "compact: least parts in a partition worth merging")
	maxBytes := fs.Int64("max-bytes", 256<<20, "compact: largest merged file, in bytes")
	if err := parseFlags(fs, args[1:], true); err != nil {
		return err
	}
	list := proto.AllTables
	if *table != "" {
		t, err := proto.LookupTable(*table)
		if err != nil {
			return fmt.Errorf("%w: -table: %v", errUsage, err)
		}
		list = []proto.Table{t}
	}
	store, err := sf.tablesStore(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	if sub == "ls" {
		fmt.Fprintln(tw, "table\tpartitions\tparts\trows\tcommitted_seq\tupdated_at")
	} else {
		fmt.Fprintln(tw, "table\tpartitions_compacted\tparts_before\tparts_after\trows_rewritten\tbytes_before\tbytes_after")
	}
	for _, t := range list {
		if sub == "compact" {
			st, err := tables.Compact(ctx, store, t, tables.CompactOptions{MinParts: *minParts, MaxBytes: *maxBytes})
			if err != nil {
				return err
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\n", t.Name, st.Partitions, st.PartsBefore, st.PartsAfter, st.RowsRewritten, st.BytesBefore, st.BytesRewritten)
			continue
		}
		parts, err := tables.ListParts(ctx, store, t)
		if err != nil {
			return err
		}
		cp, err := tables.LoadCheckpoint(ctx, store, t)
		if err != nil {
			return err
		}
		dates := map[string]bool{}
		for _, p := range parts {
			dates[p.Date] = true
		}
		updated := "-"
		if !cp.UpdatedAt.IsZero() {
			updated = cp.UpdatedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", t.Name, len(dates), len(parts), cp.Rows, cp.LastSeq, updated)
	}
	return tw.Flush()
}
