package loader

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// maxExpansion bounds what one brace pattern may expand to, so that a typo such as
// {0..99999999} is an error rather than an allocation.
const maxExpansion = 1 << 20

// expandBraces expands shell-style braces: numeric ranges {000..031} (zero padding kept from
// the wider bound) and lists {train,val}, left to right, nested patterns included.
func expandBraces(pattern string) ([]string, error) {
	open := strings.IndexByte(pattern, '{')
	if open < 0 {
		return []string{pattern}, nil
	}
	depth, end := 0, -1
	for i := open; i < len(pattern) && end < 0; i++ {
		switch pattern[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				end = i
			}
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("loader: pattern %q: unmatched {", pattern)
	}
	alts, err := braceAlternatives(pattern[open+1 : end])
	if err != nil {
		return nil, fmt.Errorf("loader: pattern %q: %w", pattern, err)
	}
	prefix, suffix := pattern[:open], pattern[end+1:]
	rest, err := expandBraces(suffix)
	if err != nil {
		return nil, err
	}
	var out []string
	literal := len(alts) == 1 && alts[0] == pattern[open:end+1]
	for _, a := range alts {
		heads := []string{a}
		if !literal {
			if heads, err = expandBraces(a); err != nil {
				return nil, err
			}
		}
		for _, h := range heads {
			for _, r := range rest {
				out = append(out, prefix+h+r)
				if len(out) > maxExpansion {
					return nil, fmt.Errorf("loader: pattern %q expands to more than %d names", pattern, maxExpansion)
				}
			}
		}
	}
	return out, nil
}

// braceAlternatives returns the alternatives of one brace body: "000..031" or "a,b,{c,d}".
func braceAlternatives(body string) ([]string, error) {
	if lo, hi, ok := strings.Cut(body, ".."); ok && !strings.ContainsAny(body, ",{}") {
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		if errA != nil || errB != nil || a < 0 || b < 0 {
			return nil, fmt.Errorf("range {%s}: want {FROM..TO} with non-negative integers", body)
		}
		if b < a {
			return nil, fmt.Errorf("range {%s}: TO is below FROM", body)
		}
		if b-a >= maxExpansion {
			return nil, fmt.Errorf("range {%s}: more than %d names", body, maxExpansion)
		}
		width := 0
		if len(lo) > 1 && lo[0] == '0' || len(hi) > 1 && hi[0] == '0' {
			width = max(len(lo), len(hi))
		}
		out := make([]string, 0, b-a+1)
		for i := a; i <= b; i++ {
			out = append(out, fmt.Sprintf("%0*d", width, i))
		}
		return out, nil
	}
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, body[start:i])
				start = i + 1
			}
		}
	}
	out = append(out, body[start:])
	if len(out) == 1 {
		return []string{"{" + body + "}"}, nil // a literal brace, as the shell leaves it
	}
	return out, nil
}

// hasGlob reports whether p holds glob metacharacters.
func hasGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// expandLocal turns a local pattern into the existing files it names, in sorted order: braces
// first, then globs. A name without glob characters must exist.
func expandLocal(key, pattern string) ([]string, error) {
	names, err := expandBraces(pattern)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if !hasGlob(n) {
			if _, err := statSource(key, n); err != nil {
				return nil, err
			}
			out = append(out, n)
			continue
		}
		m, err := filepath.Glob(n)
		if err != nil {
			return nil, fmt.Errorf("loader: %s pattern %q: %w", key, n, err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("loader: %s %q matches no files: %w", key, pattern, ErrNoSource)
	}
	sort.Strings(out)
	return dedupSorted(out), nil
}

func dedupSorted(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
