// Package api holds the contract of the platform's REST API: openapi.json,
// an OpenAPI 3.1 document of every route `hap serve` answers on its one
// listener (platform.Handler), written by hand from the services' Go types.
// The platform serves it at GET /openapi.json; the platform's tests check
// that it lists exactly the routes served (platform.Routes) and that every
// error response is RFC 9457 problem details (application/problem+json).
//
// The package depends on the standard library only.
package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

//go:embed openapi.json
var document []byte

// Document returns the OpenAPI document (JSON). The caller may modify the
// returned slice.
func Document() []byte { return bytes.Clone(document) }

// Operation is one operation of the document: an HTTP method and a path
// template.
type Operation struct {
	// Method is upper case: "GET", "POST".
	Method string
	// Path is the path template as the document writes it
	// ("/v1/rollout/{experiment}/approve").
	Path string
	// OperationID is the operation's operationId.
	OperationID string
}

// methods are the fields of an OpenAPI Path Item that hold operations.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Operations parses the document and lists its operations, sorted by path,
// then method. It fails on a document that is not JSON, has no paths, or has
// an operation without an operationId.
func Operations() ([]Operation, error) {
	return parseOperations(document)
}

func parseOperations(doc []byte) ([]Operation, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	if len(d.Paths) == 0 {
		return nil, errors.New("openapi document: no paths")
	}
	var ops []Operation
	for path, item := range d.Paths {
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("openapi document: path %q: must start with /", path)
		}
		for _, m := range methods {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op struct {
				OperationID string `json:"operationId"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("openapi document: %s %s: %w", strings.ToUpper(m), path, err)
			}
			if op.OperationID == "" {
				return nil, fmt.Errorf("openapi document: %s %s: operationId missing", strings.ToUpper(m), path)
			}
			ops = append(ops, Operation{Method: strings.ToUpper(m), Path: path, OperationID: op.OperationID})
		}
	}
	slices.SortFunc(ops, func(a, b Operation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return ops, nil
}
