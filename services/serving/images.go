package serving

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/healthcare-ai/platform/proto"
)

// imagePart makes the part of one encoded image, recording its digest, size
// and (when it came from one) URI. Format and dimensions are filled in when
// it is decoded.
func imagePart(field string, data []byte, uri string) part {
	sum := sha256.Sum256(data)
	return part{field: field, isImage: true, image: data,
		ref: proto.ImageRef{URI: uri, SHA256: hex.EncodeToString(sum[:]), SizeBytes: int64(len(data))}}
}

// decodeInlineImage decodes an image sent inline: base64 (standard or URL
// alphabet, padded or not) or a data: URI with base64 content.
func decodeInlineImage(field, s string, maxBytes int64) ([]byte, string, error) {
	if strings.HasPrefix(s, "data:") {
		return decodeDataURI(field, s, maxBytes)
	}
	data, err := decodeBase64(s, maxBytes)
	if err != nil {
		return nil, "", InvalidImageRef.New(field, "%v", err)
	}
	return data, "", nil
}

func decodeBase64(s string, maxBytes int64) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("image data: empty")
	}
	if int64(base64.StdEncoding.DecodedLen(len(s))) > maxBytes+3 {
		return nil, errors.New("image data: larger than the limit of " + strconv.FormatInt(maxBytes, 10) + " bytes")
	}
	if strings.ContainsAny(s, "\r\n") { // MIME line breaks
		s = strings.NewReplacer("\r", "", "\n", "").Replace(s)
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") {
		enc = enc.WithPadding(base64.NoPadding)
	}
	data, err := enc.DecodeString(s)
	if err != nil {
		return nil, errors.New("image data: not base64: " + err.Error())
	}
	if int64(len(data)) > maxBytes {
		return nil, errors.New("image data: larger than the limit of " + strconv.FormatInt(maxBytes, 10) + " bytes")
	}
	return data, nil
}

// decodeDataURI decodes "data:[<media type>][;base64],<data>"; only base64
// content is accepted (images are binary).
func decodeDataURI(field, s string, maxBytes int64) ([]byte, string, error) {
	meta, payload, ok := strings.Cut(strings.TrimPrefix(s, "data:"), ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return nil, "", InvalidImageRef.New(field, "data URI: want data:image/jpeg;base64,<data> (or image/png)")
	}
	data, err := decodeBase64(payload, maxBytes)
	if err != nil {
		return nil, "", InvalidImageRef.New(field, "data URI: %v", err)
	}
	return data, "", nil
}

// readImageURI reads the image an image_uri names: data: (inline) or file:
// (a path under the image root).
func (s *Server) readImageURI(field, raw string) ([]byte, string, error) {
	if strings.HasPrefix(raw, "data:") {
		return decodeDataURI(field, raw, s.cfg.MaxImageBytes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", InvalidImageRef.New(field, "image_uri %q: %v", truncate(raw, 200), err)
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, "", UnsupportedImageURI.New(field, "image_uri %q: file URIs must name a local file (file:///path)", truncate(raw, 200))
		}
		return s.readImagePath(field, u.Path)
	case "":
		return nil, "", UnsupportedImageURI.New(field, "image_uri %q: no scheme; use data:image/...;base64,... or file:///path (or image_path)", truncate(raw, 200))
	default:
		return nil, "", UnsupportedImageURI.New(field, "image_uri %q: scheme %q is not supported (the server does not fetch URLs): use data: or file:", truncate(raw, 200), u.Scheme)
	}
}

// readImagePath reads an image file that must lie under the configured image
// root. Paths are absolute or relative to the root; the file is opened
// through os.Root, so neither ".." nor a symbolic link leads out of it.
func (s *Server) readImagePath(field, path string) ([]byte, string, error) {
	if s.imageRoot == "" {
		return nil, "", ImagePathForbidden.New(field, "image path %q: this server reads no server-side paths (no image root configured); send the image inline", truncate(path, 200))
	}
	if path == "" {
		return nil, "", InvalidImageRef.New(field, "image path: empty")
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(s.imageRoot, abs)
	}
	abs = filepath.Clean(abs)
	rel, err := filepath.Rel(s.imageRoot, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, "", ImagePathForbidden.New(field, "image path %q: outside the allowed image root", truncate(path, 200))
	}
	root, err := os.OpenRoot(s.imageRoot)
	if err != nil {
		return nil, "", Unavailable.New(field, "image root: %v", err)
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", ImageNotFound.New(field, "image path %q: no such file under the image root", truncate(path, 200))
		}
		return nil, "", ImagePathForbidden.New(field, "image path %q: %v", truncate(path, 200), stripRoot(err, s.imageRoot))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, "", ImageNotFound.New(field, "image path %q: not a regular file", truncate(path, 200))
	}
	if st.Size() > s.cfg.MaxImageBytes {
		return nil, "", InvalidImageRef.New(field, "image path %q: %d bytes, larger than the limit of %d", truncate(path, 200), st.Size(), s.cfg.MaxImageBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, s.cfg.MaxImageBytes+1))
	if err != nil {
		return nil, "", ImageNotFound.New(field, "image path %q: read: %v", truncate(path, 200), stripRoot(err, s.imageRoot))
	}
	if int64(len(data)) > s.cfg.MaxImageBytes {
		return nil, "", InvalidImageRef.New(field, "image path %q: larger than the limit of %d bytes", truncate(path, 200), s.cfg.MaxImageBytes)
	}
	return data, (&url.URL{Scheme: "file", Path: abs}).String(), nil
}

// stripRoot keeps the server's folder layout out of error messages.
func stripRoot(err error, root string) string {
	return strings.ReplaceAll(err.Error(), root, "<root>")
}
