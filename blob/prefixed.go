package blob

import (
	"context"
	"fmt"
	"strings"
)

// Prefixed is a Store whose keys live under a fixed prefix of another store:
// Prefixed(s, "dev").Put(ctx, "bronze/x", b) stores "dev/bronze/x" in s. It is
// how environments (dev, pilot, prod) share one bucket or folder without
// collisions. Keys passed to and returned by a Prefixed store are relative to
// the prefix.
type prefixed struct {
	base   Store
	prefix string // ends with "/"
}

// WithPrefix returns base with every key under prefix ("dev", "hap/pilot").
// An empty prefix returns base itself.
func WithPrefix(base Store, prefix string) (Store, error) {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return base, nil
	}
	if err := ValidKey(prefix); err != nil {
		return nil, fmt.Errorf("blob prefix: %w", err)
	}
	return &prefixed{base: base, prefix: prefix + "/"}, nil
}

func (p *prefixed) key(k string) (string, error) {
	if err := ValidKey(k); err != nil {
		return "", err
	}
	return p.prefix + k, nil
}

func (p *prefixed) Put(ctx context.Context, key string, data []byte) error {
	k, err := p.key(key)
	if err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	return p.base.Put(ctx, k, data)
}

func (p *prefixed) Get(ctx context.Context, key string) ([]byte, error) {
	k, err := p.key(key)
	if err != nil {
		return nil, fmt.Errorf("get blob: %w", err)
	}
	return p.base.Get(ctx, k)
}

func (p *prefixed) Stat(ctx context.Context, key string) (Info, error) {
	k, err := p.key(key)
	if err != nil {
		return Info{}, fmt.Errorf("stat blob: %w", err)
	}
	info, err := p.base.Stat(ctx, k)
	info.Key = strings.TrimPrefix(info.Key, p.prefix)
	return info, err
}

func (p *prefixed) Exists(ctx context.Context, key string) (bool, error) {
	k, err := p.key(key)
	if err != nil {
		return false, fmt.Errorf("blob exists: %w", err)
	}
	return p.base.Exists(ctx, k)
}

func (p *prefixed) Delete(ctx context.Context, key string) error {
	k, err := p.key(key)
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	return p.base.Delete(ctx, k)
}

func (p *prefixed) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := ValidPrefix(prefix); err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	infos, err := p.base.List(ctx, p.prefix+prefix)
	if err != nil {
		return nil, err
	}
	for i := range infos {
		infos[i].Key = strings.TrimPrefix(infos[i].Key, p.prefix)
	}
	return infos, nil
}

func (p *prefixed) URI(key string) string { return p.base.URI(p.prefix + key) }
