package api

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestOpenAPIOperations(t *testing.T) {
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) == 0 {
		t.Fatal("no operations")
	}
	ids := map[string]bool{}
	for i, op := range ops {
		if ids[op.OperationID] {
			t.Errorf("operationId %s: used twice", op.OperationID)
		}
		ids[op.OperationID] = true
		if i > 0 && ops[i-1].Path == op.Path && ops[i-1].Method == op.Method {
			t.Errorf("%s %s: listed twice", op.Method, op.Path)
		}
	}
	if !slices.ContainsFunc(ops, func(o Operation) bool { return o.Method == "GET" && o.Path == "/openapi.json" }) {
		t.Error("GET /openapi.json: not documented")
	}
}

func TestOpenAPIParseErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":        `{`,
		"no paths":        `{"openapi":"3.1.0","paths":{}}`,
		"relative path":   `{"paths":{"v1/x":{"get":{"operationId":"x"}}}}`,
		"no operationId":  `{"paths":{"/x":{"get":{"responses":{}}}}}`,
		"bad operation":   `{"paths":{"/x":{"post":[]}}}`,
		"paths not a map": `{"paths":[]}`,
	} {
		if _, err := parseOperations([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	ops, err := parseOperations([]byte(`{"paths":{"/b":{"post":{"operationId":"p"},"get":{"operationId":"g"},"parameters":[]},"/a":{"get":{"operationId":"a"}}}}`))
	want := []Operation{{"GET", "/a", "a"}, {"GET", "/b", "g"}, {"POST", "/b", "p"}}
	if err != nil || !slices.Equal(ops, want) {
		t.Fatalf("got %v, %v; want %v", ops, err, want)
	}
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// TestOpenAPIPathParameters checks that each operation declares exactly the
// path parameters of its path template, and that every $ref resolves.
func TestOpenAPIPathParameters(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(Document(), &doc); err != nil {
		t.Fatal(err)
	}
	resolve := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			var cur any = doc
			for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				c, _ := cur.(map[string]any)
				cur = c[tok]
			}
			m, _ = cur.(map[string]any)
			if m == nil {
				t.Errorf("$ref %s: does not resolve", ref)
			}
		}
		return m
	}
	// Every $ref anywhere resolves.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["$ref"]; ok {
				resolve(v)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)

	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	paths := doc["paths"].(map[string]any)
	for _, op := range ops {
		var want []string
		for _, m := range pathParam.FindAllStringSubmatch(op.Path, -1) {
			want = append(want, m[1])
		}
		item := paths[op.Path].(map[string]any)
		o := item[strings.ToLower(op.Method)].(map[string]any)
		var got []string
		params, _ := o["parameters"].([]any)
		shared, _ := item["parameters"].([]any)
		for _, p := range append(shared, params...) {
			pm := resolve(p)
			if pm["in"] == "path" {
				got = append(got, pm["name"].(string))
				if pm["required"] != true {
					t.Errorf("%s %s: path parameter %v: not required", op.Method, op.Path, pm["name"])
				}
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s %s: path parameters %q declared, template has %q", op.Method, op.Path, got, want)
		}
	}
}
