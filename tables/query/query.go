// Package query runs SQL over the lakehouse tables with DuckDB
// (github.com/duckdb/duckdb-go/v2, DuckDB embedded in the process).
//
// Open creates one view per table over its Parquet files in a local folder
// (read_parquet with Hive partitioning, so each view has the `date` column of
// the folder names) and the views shipped in sql/: model_performance_live and
// its helpers. Tables in S3 are first copied to a local cache with Sync:
// DuckDB's own S3 extension (httpfs) is downloaded at run time, which a
// hospital network (and this project's CI) may not allow.
//
// The SQL files are plain DuckDB SQL; analysts can run them in the duckdb
// shell, and adapt them for Spark or Athena, over the same files.
package query

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver

	"github.com/healthcare-ai/platform/proto"
	"github.com/healthcare-ai/platform/tables"
)

//go:embed sql/*.sql
var files embed.FS

// Reports are the named queries shipped in sql/ (besides the views).
var Reports = map[string]string{
	"comparison": "sql/model_comparison.sql",
	"daily":      "sql/model_comparison_daily.sql",
}

// SQLFile returns the text of a shipped SQL file ("sql/model_comparison.sql").
func SQLFile(name string) (string, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("no shipped SQL file %s", name)
	}
	return string(b), nil
}

// DB is a DuckDB database with the table views. Close it when done.
type DB struct {
	db      *sql.DB
	root    string
	scratch string // folder of the empty files that stand for tables without data
}

// Open opens an in-memory DuckDB database with a view per table over the
// Parquet files under root (the folder that holds tables/, i.e. the
// environment's folder of a local blob store) and the shipped views.
func Open(ctx context.Context, root string) (_ *DB, err error) {
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("query: tables folder %s: not a folder (run the platform first, or Sync from S3)", root)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("query: open duckdb: %w", err)
	}
	d := &DB{db: db, root: root}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	db.SetMaxOpenConns(1) // one in-memory database: views live in its connection's catalog
	for _, t := range proto.AllTables {
		src, err := d.source(t)
		if err != nil {
			return nil, err
		}
		stmt := fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT * FROM %s", t.Table, src)
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("query: view %s: %w", t.Table, err)
		}
	}
	views, err := SQLFile("sql/model_performance_live.sql")
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, views); err != nil {
		return nil, fmt.Errorf("query: model_performance_live.sql: %w", err)
	}
	return d, nil
}

// source is the read_parquet expression of a table: its files, or an empty
// file with the table's schema when it has none yet (so that queries over a
// new deployment return no rows instead of failing).
func (d *DB) source(t proto.Table) (string, error) {
	dir := filepath.Join(d.root, filepath.FromSlash(t.Prefix()))
	matches, _ := filepath.Glob(filepath.Join(dir, "date=*", "*.parquet"))
	if len(matches) > 0 {
		return fmt.Sprintf("read_parquet(%s, hive_partitioning = true, union_by_name = true)",
			literal(filepath.Join(dir, "*", "*.parquet"))), nil
	}
	if d.scratch == "" {
		s, err := os.MkdirTemp("", "hap-query-")
		if err != nil {
			return "", fmt.Errorf("query: %w", err)
		}
		d.scratch = s
	}
	data, err := tables.EmptyFile(t)
	if err != nil {
		return "", fmt.Errorf("query: %w", err)
	}
	p := filepath.Join(d.scratch, t.Table+".parquet")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return "", fmt.Errorf("query: %w", err)
	}
	// The same columns as a real table, including the `date` partition.
	return fmt.Sprintf("(SELECT *, CAST(NULL AS DATE) AS date FROM read_parquet(%s))", literal(p)), nil
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Close releases the database.
func (d *DB) Close() error {
	err := d.db.Close()
	if d.scratch != "" {
		err = errors.Join(err, os.RemoveAll(d.scratch))
	}
	return err
}

// SQL exposes the database for callers that scan rows themselves.
func (d *DB) SQL() *sql.DB { return d.db }

// Result is a query's columns and rows, values as DuckDB returns them.
type Result struct {
	Columns []string
	Rows    [][]any
}

// Query runs one or more statements and returns the rows of the last one.
func (d *DB) Query(ctx context.Context, query string) (*Result, error) {
	stmts := splitStatements(query)
	if len(stmts) == 0 {
		return nil, errors.New("query: empty SQL")
	}
	for _, s := range stmts[:len(stmts)-1] {
		if _, err := d.db.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
	}
	rows, err := d.db.QueryContext(ctx, stmts[len(stmts)-1])
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	res := &Result{Columns: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return res, nil
}

// splitStatements splits SQL text on semicolons outside quotes and comments
// and drops empty statements.
func splitStatements(text string) []string {
	var out []string
	var cur strings.Builder
	inSingle, inDouble, inLine := false, false, false
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case inLine:
			if c == '\n' {
				inLine = false
			}
		case inSingle:
			if c == '\'' {
				inSingle = false
			}
		case inDouble:
			if c == '"' {
				inDouble = false
			}
		case c == '-' && i+1 < len(text) && text[i+1] == '-':
			inLine = true
		case c == '\'':
			inSingle = true
		case c == '"':
			inDouble = true
		case c == ';':
			if s := strings.TrimSpace(cur.String()); s != "" && !onlyComments(s) {
				out = append(out, s)
			}
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	if s := strings.TrimSpace(cur.String()); s != "" && !onlyComments(s) {
		out = append(out, s)
	}
	return out
}

func onlyComments(s string) bool {
	for line := range strings.SplitSeq(s, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
			return false
		}
	}
	return true
}
