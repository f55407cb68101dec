package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/healthcare-ai/platform/httpapi/problem"
	"github.com/healthcare-ai/platform/proto"
)

// The pages and their assets: plain HTML, CSS and JavaScript modules, served
// as written.
//
//go:embed pages/*.html static/*.js static/*.css static/*.svg
var files embed.FS

// asset is one embedded file with its validator.
type asset struct {
	name  string
	body  []byte
	etag  string
	ctype string
}

type assets struct {
	static map[string]*asset // by file name under static/
	pages  map[string]*asset // by file name under pages/
}

func loadAssets() (*assets, error) {
	a := &assets{static: map[string]*asset{}, pages: map[string]*asset{}}
	for dir, into := range map[string]map[string]*asset{"static": a.static, "pages": a.pages} {
		entries, err := fs.ReadDir(files, dir)
		if err != nil {
			return nil, fmt.Errorf("web: read embedded %s: %w", dir, err)
		}
		for _, e := range entries {
			body, err := files.ReadFile(dir + "/" + e.Name())
			if err != nil {
				return nil, fmt.Errorf("web: read embedded %s/%s: %w", dir, e.Name(), err)
			}
			sum := sha256.Sum256(body)
			ctype := mime.TypeByExtension(path.Ext(e.Name()))
			if ctype == "" {
				ctype = "application/octet-stream"
			}
			into[e.Name()] = &asset{name: e.Name(), body: body, ctype: ctype,
				etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		}
	}
	return a, nil
}

// Problem kinds of the web routes.
var (
	problemNoAsset       = problem.Kind{Slug: "not-found", Title: "Not found", Status: http.StatusNotFound}
	problemBadExperiment = problem.Kind{Slug: "invalid-parameter", Title: "Invalid parameter", Status: http.StatusBadRequest}
)

// contentSecurityPolicy allows only the platform's own scripts, styles and
// API; images also from blob: URLs (the review image is fetched with the
// bearer token and shown from a blob).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// serve writes an asset with its ETag. The assets are not fingerprinted, so
// browsers revalidate them on each use ("no-cache") and get 304 when
// unchanged.
func serve(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := s.assets.static[r.PathValue("file")]
	if !ok {
		problem.Write(w, problemNoAsset.New("", "no asset %s", r.URL.Path))
		return
	}
	serve(w, r, a)
}

// page serves an HTML page. Without ?experiment= it redirects to the same
// page for the default experiment, so that every page URL names its
// experiment (bookmarks, reloads); the URL fragment, which holds a token when
// one is passed in, is kept by the browser across the redirect.
func (s *Server) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		exp := q.Get("experiment")
		if exp == "" {
			q.Set("experiment", s.cfg.Experiment)
			http.Redirect(w, r, r.URL.Path+"?"+q.Encode(), http.StatusFound)
			return
		}
		if err := proto.ValidToken(exp); err != nil {
			problem.Write(w, problemBadExperiment.New("experiment", "experiment %q: %v", exp, err))
			return
		}
		a := s.assets.pages[name]
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("X-Frame-Options", "DENY")
		serve(w, r, a)
	}
}
