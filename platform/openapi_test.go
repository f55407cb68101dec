package platform_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthcare-ai/platform/api"
	"github.com/healthcare-ai/platform/bus/bustest"
	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/platform"
)

// TestOpenAPI checks api/openapi.json against the running platform: the
// document is served; it documents exactly the routes the platform serves;
// every documented operation is routed; and the answers to minimal and to
// successful requests have documented statuses, media types and bodies that
// match the documented schemas (no undocumented field, no missing required
// one).
func TestOpenAPI(t *testing.T) {
	p := startPlatform(t, t.TempDir())
	defer p.Stop(context.Background())
	base := "http://" + p.HTTPAddr().String()

	var doc oasDoc
	t.Run("Served", func(t *testing.T) {
		resp, body := do(t, http.MethodGet, base+"/openapi.json", "", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET /openapi.json: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
		}
		if !bytes.Equal(body, api.Document()) {
			t.Fatal("GET /openapi.json differs from api.Document()")
		}
		var err error
		if doc, err = parseDoc(body); err != nil {
			t.Fatal(err)
		}
		if v, _ := doc.root["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
			t.Fatalf("openapi %q: want 3.1.x", v)
		}
	})
	if doc.root == nil {
		t.FailNow()
	}
	ops, err := api.Operations()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("RoutesDocumented", func(t *testing.T) {
		served := map[string]bool{}
		for _, r := range p.Routes() {
			k := r.Method + " " + normPath(r.Pattern)
			if served[k] {
				t.Errorf("route %s %s: listed twice by Routes", r.Method, r.Pattern)
			}
			served[k] = true
		}
		documented := map[string]bool{}
		for _, op := range ops {
			k := op.Method + " " + normPath(op.Path)
			documented[k] = true
			if !served[k] {
				t.Errorf("operation %s (%s %s) is documented in api/openapi.json but platform.Routes does not list it (not served, or missing from the table in platform/http.go)", op.OperationID, op.Method, op.Path)
			}
		}
		for _, r := range p.Routes() {
			if !documented[r.Method+" "+normPath(r.Pattern)] {
				t.Errorf("route %s %s is served but not documented in api/openapi.json", r.Method, r.Pattern)
			}
		}
	})

	// A route added to a service mounted as a subtree (or a method-less
	// pattern) is served without the platform's table knowing it: every
	// exported Route* constant of the services must be in Routes.
	t.Run("ServiceRouteConstants", func(t *testing.T) {
		fallbacks := map[string]bool{"serving.RouteV2Other": true} // 404 problem for any other /v2/ path
		routes := p.Routes()
		consts := routeConstants(t, "../services/ingestor", "../services/evaluator", "../services/rollout", "../services/serving")
		if len(consts) == 0 {
			t.Fatal("no Route* constants found")
		}
		for _, name := range slices.Sorted(maps.Keys(consts)) {
			v := consts[name]
			if fallbacks[name] {
				continue
			}
			method, path, hasMethod := strings.Cut(v, " ")
			if !hasMethod {
				method, path = "", v
			}
			if !slices.ContainsFunc(routes, func(r platform.Route) bool {
				return r.Pattern == path && (method == "" || r.Method == method)
			}) {
				t.Errorf("%s = %q: a route of the service that platform.Routes does not list: add it to the table in platform/http.go and to api/openapi.json", name, v)
			}
		}
	})

	// Values for the path parameters: names that exist where that is cheap
	// (a missing request id or study gets the handler's 404 or 400).
	values := map[string]string{
		"experiment": "pneumonia", "name": "champion", "version": servedVersion(t, base, "champion"),
		"request_id": "no-such-request", "study": "1.2.3",
	}
	t.Run("Routed", func(t *testing.T) {
		for _, op := range ops {
			url := base + fillPath(t, op.Path, values)
			var body []byte
			ct := ""
			if op.Method != http.MethodGet {
				body, ct = []byte("{}"), "application/json"
			}
			resp, got := do(t, op.Method, url, ct, body)
			if routerMiss(resp, got) {
				t.Errorf("%s %s (%s): %s from the router: %s", op.Method, op.Path, op.OperationID, resp.Status, got)
				continue
			}
			if err := doc.checkResponse(op.Method, op.Path, resp, got); err != nil {
				t.Errorf("%s %s: %v", op.Method, url, err)
			}
		}
	})

	t.Run("Responses", func(t *testing.T) {
		img := testPNG(t)
		check := func(method, template, url, ct string, body []byte, want int) []byte {
			t.Helper()
			resp, got := do(t, method, url, ct, body)
			if resp.StatusCode != want {
				t.Fatalf("%s %s: %s, want %d: %s", method, url, resp.Status, want, got)
			}
			if err := doc.checkResponse(method, template, resp, got); err != nil {
				t.Errorf("%s %s: %v", method, url, err)
			}
			return got
		}
		form, formCT := multipartImage(t, img)
		check("POST", "/v1/images", base+"/v1/images", formCT, form, http.StatusAccepted)
		var pr struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(check("POST", "/v1/predict", base+"/v1/predict", "image/png", img, http.StatusOK), &pr); err != nil || pr.RequestID == "" {
			t.Fatalf("predict: request_id %q, %v", pr.RequestID, err)
		}
		fb := fmt.Sprintf(`{"request_id":%q,"feedback_type":"true-positive","radiologist_id":"DR001","confidence":0.9}`, pr.RequestID)
		check("POST", "/v1/feedback", base+"/v1/feedback", "application/json", []byte(fb), http.StatusAccepted)
		check("POST", "/v1/feedback", base+"/v1/feedback", "application/json", []byte(`{"request_id":"x","feedback_type":"maybe"}`), http.StatusBadRequest)
		bustest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
			resp, got := do(t, "GET", base+"/v1/requests/"+pr.RequestID, "", nil)
			if resp.StatusCode != http.StatusOK || !bytes.Contains(got, []byte(`"feedback"`)) {
				return fmt.Errorf("request %s: %s %s", pr.RequestID, resp.Status, got)
			}
			return doc.checkResponse("GET", "/v1/requests/{request_id}", resp, got)
		})
		check("GET", "/v1/metrics", base+"/v1/metrics", "", nil, http.StatusOK)
		check("GET", "/v1/metrics/{experiment}", base+"/v1/metrics/pneumonia", "", nil, http.StatusOK)
		check("GET", "/v1/models", base+"/v1/models", "", nil, http.StatusOK)
		check("GET", "/v1/rollout/{experiment}", base+"/v1/rollout/pneumonia", "", nil, http.StatusOK)
		check("POST", "/v1/rollout/{experiment}/approve", base+"/v1/rollout/pneumonia/approve", "application/json", []byte(`{"by":"dr.test"}`), http.StatusConflict)
		check("GET", "/v1/rollout/{experiment}", base+"/v1/rollout/other", "", nil, http.StatusNotFound)
		check("GET", "/v1/whoami", base+"/v1/whoami", "", nil, http.StatusOK)
		check("GET", "/v1/review/queue", base+"/v1/review/queue?limit=5", "", nil, http.StatusOK)
		check("GET", "/v1/review/queue", base+"/v1/review/queue?predicted=maybe", "", nil, http.StatusBadRequest)
		check("GET", "/v1/review/queue", base+"/v1/review/queue?order=oldest", "", nil, http.StatusOK)
		check("GET", "/v1/review/queue", base+"/v1/review/queue?order=sideways", "", nil, http.StatusBadRequest)
		check("GET", "/v1/review/{request_id}/image", base+"/v1/review/"+pr.RequestID+"/image", "", nil, http.StatusOK)
		check("GET", "/v1/review/{request_id}/image", base+"/v1/review/no-such-request/image", "", nil, http.StatusNotFound)
		check("GET", "/readyz", base+"/readyz", "", nil, http.StatusOK)
		check("GET", "/healthz", base+"/healthz", "", nil, http.StatusOK)

		b64 := base64.StdEncoding.EncodeToString(img)
		oip := fmt.Sprintf(`{"id":"ref-1","inputs":[{"name":"image_bytes","shape":[1],"datatype":"BYTES","data":[%q]}],"outputs":[{"name":"label"}]}`, b64)
		check("POST", "/v2/models/{name}/infer", base+"/v2/models/pneumonia/infer", "application/json", []byte(oip), http.StatusOK)
		check("POST", "/v2/models/{name}/infer", base+"/v2/models/champion/infer", "application/json", []byte(`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`), http.StatusBadRequest)
		check("GET", "/v2/models/{name}", base+"/v2/models/pneumonia", "", nil, http.StatusOK)
		check("GET", "/v2/models/{name}", base+"/v2/models/nope", "", nil, http.StatusNotFound)
		rec := fmt.Sprintf(`{"dataframe_records":[{"image_base64":%q}]}`, b64)
		check("POST", "/endpoints/{name}/invocations", base+"/endpoints/challenger/invocations", "application/json", []byte(rec), http.StatusOK)
		check("POST", "/invocations", base+"/invocations", "application/json", []byte(rec), http.StatusOK)
		check("POST", "/invocations", base+"/invocations", "application/json", []byte(`{"dataframe_records":[{"image_path":"a.png"}]}`), http.StatusForbidden)

		stow, stowCT := multipartRelated(t, []byte("not a DICOM file"))
		check("POST", "/dicom-web/studies", base+"/dicom-web/studies", stowCT, stow, http.StatusConflict)
		check("POST", "/dicom-web/studies/{study}", base+"/dicom-web/studies/x", stowCT, stow, http.StatusBadRequest)
	})
}

// TestOpenAPIProblemResponses checks the document itself: every 4xx and 5xx
// response of an operation is application/problem+json and nothing else,
// except STOW-RS's 409 and 503, which DICOM (PS3.18) defines as the Store
// Instances Response.
func TestOpenAPIProblemResponses(t *testing.T) {
	doc, err := parseDoc(api.Document())
	if err != nil {
		t.Fatal(err)
	}
	dicomJSON := map[string]bool{
		"POST /dicom-web/studies 409": true, "POST /dicom-web/studies 503": true,
		"POST /dicom-web/studies/{study} 409": true, "POST /dicom-web/studies/{study} 503": true,
	}
	ops, err := api.Operations()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		o := doc.operation(op.Method, op.Path)
		responses, _ := o["responses"].(map[string]any)
		if len(responses) == 0 {
			t.Errorf("%s %s: no responses", op.Method, op.Path)
		}
		for code, r := range responses {
			if code == "default" || code[0] == '4' || code[0] == '5' {
				resp := doc.resolve(r.(map[string]any))
				content, _ := resp["content"].(map[string]any)
				var types []string
				for mt := range content {
					types = append(types, mt)
				}
				slices.Sort(types)
				key := op.Method + " " + op.Path + " " + code
				switch {
				case dicomJSON[key]:
					if !slices.Equal(types, []string{"application/dicom+json"}) {
						t.Errorf("%s: content %q, want application/dicom+json (the Store Instances Response)", key, types)
					}
				case !slices.Equal(types, []string{problem.ContentType}):
					t.Errorf("%s (%s): content %q, want only %s", key, op.OperationID, types, problem.ContentType)
				}
			}
		}
	}
}

// routeConstants returns the exported Route* string constants declared in
// the non-test files of the package folders, by "package.Name".
func routeConstants(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string]string{}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, name := range vs.Names {
						if !name.IsExported() || !strings.HasPrefix(name.Name, "Route") {
							continue
						}
						key := f.Name.Name + "." + name.Name
						var lit *ast.BasicLit
						if i < len(vs.Values) {
							lit, _ = vs.Values[i].(*ast.BasicLit)
						}
						if lit == nil || lit.Kind != token.STRING {
							t.Errorf("%s (%s): not a string literal, cannot check it", key, fset.Position(name.Pos()))
							continue
						}
						out[key], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
	}
	return out
}

// normPath drops the "..." of a trailing multi-segment wildcard
// ("{request_id...}"), which OpenAPI cannot express. Parameter names must
// otherwise agree.
func normPath(p string) string { return strings.ReplaceAll(p, "...}", "}") }

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func fillPath(t *testing.T, template string, values map[string]string) string {
	t.Helper()
	return pathParam.ReplaceAllStringFunc(template, func(m string) string {
		v, ok := values[strings.Trim(m, "{}")]
		if !ok {
			t.Fatalf("%s: no test value for path parameter %s", template, m)
		}
		return v
	})
}

// routerMiss reports whether an answer is the router's, not a handler's: a
// plain 404 or 405 from net/http.ServeMux, or the serving fallback's
// route-not-found problem for any other /v2/ path.
func routerMiss(resp *http.Response, body []byte) bool {
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		return false
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != problem.ContentType {
		return true
	}
	var pr problem.Problem
	return json.Unmarshal(body, &pr) != nil || pr.Slug() == "route-not-found"
}

func do(t *testing.T, method, url, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, got
}

// servedVersion returns the registry version an arm serves.
func servedVersion(t *testing.T, base, arm string) string {
	t.Helper()
	_, body := do(t, http.MethodGet, base+"/v1/models", "", nil)
	var models struct {
		Arms []struct {
			Arm     string `json:"arm"`
			Version string `json:"model_version"`
		} `json:"arms"`
	}
	if err := json.Unmarshal(body, &models); err != nil {
		t.Fatal(err)
	}
	for _, a := range models.Arms {
		if a.Arm == arm {
			return a.Version
		}
	}
	t.Fatalf("GET /v1/models: no arm %s in %s", arm, body)
	return ""
}

// testPNG is a 160x160 gray gradient: a valid, if odd, chest X-ray.
func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 160, 160))
	for y := range 160 {
		for x := range 160 {
			img.SetGray(x, y, color.Gray{Y: uint8((x + 2*y) % 256)})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func multipartImage(t *testing.T, img []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreateFormFile("image", "gradient.png")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(img)
	mw.WriteField("client_request_id", "ref-upload-1")
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

func multipartRelated(t *testing.T, part []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(part)
	mw.Close()
	return buf.Bytes(), `multipart/related; type="application/dicom"; boundary=` + mw.Boundary()
}

// oasDoc is a parsed OpenAPI document, with just enough JSON Schema to
// check response bodies: $ref, type, enum, required, properties,
// additionalProperties, items, allOf, anyOf, oneOf and format date-time.
type oasDoc struct{ root map[string]any }

func parseDoc(b []byte) (oasDoc, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return oasDoc{}, fmt.Errorf("openapi document: %w", err)
	}
	return oasDoc{root: root}, nil
}

// resolve follows $ref (local JSON pointers) until a node without one.
func (d oasDoc) resolve(node map[string]any) map[string]any {
	for range 10 {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		var cur any = d.root
		for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, _ := cur.(map[string]any)
			cur = m[tok]
		}
		node, _ = cur.(map[string]any)
	}
	return node
}

func (d oasDoc) operation(method, path string) map[string]any {
	paths, _ := d.root["paths"].(map[string]any)
	item, _ := paths[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	return op
}

// checkResponse checks that the operation documents the answer's status and
// media type and that a JSON body matches the documented schema.
func (d oasDoc) checkResponse(method, path string, resp *http.Response, body []byte) error {
	op := d.operation(method, path)
	if op == nil {
		return fmt.Errorf("%s %s: not documented", method, path)
	}
	responses, _ := op["responses"].(map[string]any)
	r, ok := responses[fmt.Sprint(resp.StatusCode)].(map[string]any)
	if !ok {
		return fmt.Errorf("status %d not documented for %s %s (body %s)", resp.StatusCode, method, path, body)
	}
	content, _ := d.resolve(r)["content"].(map[string]any)
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	media, ok := content[mt].(map[string]any)
	if !ok {
		return fmt.Errorf("status %d: Content-Type %q not documented (body %s)", resp.StatusCode, mt, body)
	}
	schema, _ := media["schema"].(map[string]any)
	if schema == nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("status %d: body is not JSON: %v", resp.StatusCode, err)
	}
	if err := d.check(schema, v, "body"); err != nil {
		return fmt.Errorf("status %d: %v (body %s)", resp.StatusCode, err, body)
	}
	return nil
}

func (d oasDoc) check(schema map[string]any, v any, at string) error {
	s := d.resolve(schema)
	if s == nil {
		return fmt.Errorf("%s: unresolvable schema %v", at, schema)
	}
	for _, sub := range list(s["allOf"]) {
		if err := d.check(sub, v, at); err != nil {
			return err
		}
	}
	if subs := list(s["anyOf"]); subs != nil && !slices.ContainsFunc(subs, func(sub map[string]any) bool { return d.check(sub, v, at) == nil }) {
		return fmt.Errorf("%s: matches none of anyOf", at)
	}
	if subs := list(s["oneOf"]); subs != nil {
		n := 0
		for _, sub := range subs {
			if d.check(sub, v, at) == nil {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: matches %d of oneOf, want 1", at, n)
		}
	}
	if typ, ok := s["type"]; ok && !typeOK(typ, v) {
		return fmt.Errorf("%s: %T %v is not of type %v", at, v, v, typ)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v not in enum %v", at, v, enum)
	}
	if str, ok := v.(string); ok && s["format"] == "date-time" {
		if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
			return fmt.Errorf("%s: %q is not a date-time", at, str)
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		required, _ := s["required"].([]any)
		for _, name := range required {
			if _, ok := v[name.(string)]; !ok {
				return fmt.Errorf("%s: required property %q missing", at, name)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if ps, ok := props[k].(map[string]any); ok {
				if err := d.check(ps, v[k], at+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: property %q not documented", at, k)
				}
			case map[string]any:
				if err := d.check(ap, v[k], at+"."+k); err != nil {
					return err
				}
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range v {
				if err := d.check(items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// list returns a JSON array of schemas (nil when absent).
func list(v any) []map[string]any {
	arr, _ := v.([]any)
	var out []map[string]any
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func typeOK(typ, v any) bool {
	if types, ok := typ.([]any); ok {
		return slices.ContainsFunc(types, func(t any) bool { return typeOK(t, v) })
	}
	switch typ {
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "null":
		return v == nil
	}
	return false
}

func TestUnroutedRequestsGetProblems(t *testing.T) {
	p := startPlatform(t, t.TempDir())
	defer p.Stop(t.Context())
	base := "http://" + p.HTTPAddr().String()
	for _, tc := range []struct {
		method, path string
		status       int
		typ          string
	}{
		{http.MethodGet, "/v1/nope", http.StatusNotFound, "route-not-found"},
		{http.MethodDelete, "/v1/images", http.StatusMethodNotAllowed, "method-not-allowed"},
		{http.MethodGet, "/v1/predict", http.StatusMethodNotAllowed, "method-not-allowed"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, base+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var pr problem.Problem
		err = json.NewDecoder(resp.Body).Decode(&pr)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != problem.ContentType || pr.Type != problem.Type(tc.typ) {
			t.Errorf("%s %s: %d %s %+v (%v)", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), pr, err)
		}
		if tc.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
		}
	}
}
