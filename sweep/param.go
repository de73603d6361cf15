package sweep

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/natssl/natssl/configs"
)

// Param is one swept parameter, as --param gives it:
//
//	train.temperature=0.1,0.2,0.5                  listed values
//	augment.crop_scale=[0.08,1],[0.2,1]            list values in brackets (commas inside stay)
//	train.lr=log:0.0003..0.01                      a range, log-uniform (random search only)
//	train.temperature=0.05..0.5                    a range, uniform (random search only)
//	data.batch_size+train.steps=128/900,256/450    tied keys: one value per key, split by /
//	augment.jitter.brightness+augment.jitter.contrast=0.2,0.4   tied keys, one value for all
//
// Tied keys (joined by +) are drawn together: each of their values sets every key, either to
// the same value or, split by /, to one value each.
type Param struct {
	Raw  string   // as given, for messages
	Keys []string // one, or several tied together
	// Values are the listed choices; each is one value per key.
	Values [][]string
	Range  *Range // set instead of Values for a range
}

// Range is a span of numbers a random search draws from: uniformly, or uniformly in the
// logarithm when Log. Draws for an integer key are rounded to integers.
type Range struct {
	Log    bool
	Lo, Hi float64
}

// ParseParam parses one --param argument. It checks the syntax only; the keys and values are
// checked against the config by Plan.
func ParseParam(s string) (Param, error) {
	p := Param{Raw: s}
	keys, vals, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(keys) == "" {
		return p, fmt.Errorf("--param %s: want key=value,value,... (such as train.lr=0.1,0.3)", s)
	}
	seen := map[string]bool{}
	for _, k := range strings.Split(keys, "+") {
		k = strings.TrimSpace(k)
		if k == "" {
			return p, fmt.Errorf("--param %s: an empty key (tie keys as a+b=...)", s)
		}
		if seen[k] {
			return p, fmt.Errorf("--param %s: key %s appears twice", s, k)
		}
		seen[k] = true
		p.Keys = append(p.Keys, k)
	}
	vals = strings.TrimSpace(vals)
	if r, ok, err := parseRange(vals); ok || err != nil {
		if err != nil {
			return p, fmt.Errorf("--param %s: %w", s, err)
		}
		p.Range = r
		return p, nil
	}
	items, err := splitTop(vals, ',')
	if err != nil {
		return p, fmt.Errorf("--param %s: %w", s, err)
	}
	dup := map[string]bool{}
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			return p, fmt.Errorf("--param %s: an empty value", s)
		}
		v := []string{it}
		if len(p.Keys) > 1 {
			parts, err := splitTop(it, '/')
			if err != nil {
				return p, fmt.Errorf("--param %s: %w", s, err)
			}
			switch len(parts) {
			case 1:
				v = make([]string, len(p.Keys))
				for i := range v {
					v[i] = it
				}
			case len(p.Keys):
				v = parts
				for i := range v {
					v[i] = strings.TrimSpace(v[i])
				}
			default:
				return p, fmt.Errorf("--param %s: value %s has %d parts for %d tied keys (give one value, or one per key split by /)",
					s, it, len(parts), len(p.Keys))
			}
		}
		if key := strings.Join(v, "\x00"); dup[key] {
			return p, fmt.Errorf("--param %s: value %s is listed twice", s, it)
		} else {
			dup[key] = true
		}
		p.Values = append(p.Values, v)
	}
	return p, nil
}

// parseRange reads "LO..HI" or "log:LO..HI"; ok is false when s is not a range at all.
func parseRange(s string) (r *Range, ok bool, err error) {
	body, isLog := strings.CutPrefix(s, "log:")
	lo, hi, found := strings.Cut(body, "..")
	if !found {
		if isLog {
			return nil, true, fmt.Errorf("want log:LO..HI")
		}
		return nil, false, nil
	}
	a, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
	b, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
	switch {
	case err1 != nil || err2 != nil || math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0):
		return nil, true, fmt.Errorf("range %s: want two numbers, LO..HI", s)
	case !(a < b):
		return nil, true, fmt.Errorf("range %s: want LO < HI", s)
	case isLog && !(a > 0):
		return nil, true, fmt.Errorf("range %s: a log range needs LO > 0", s)
	}
	return &Range{Log: isLog, Lo: a, Hi: b}, true, nil
}

// splitTop splits s at sep where it is outside brackets and parentheses, so that list values
// such as [0.08, 1] stay whole.
func splitTop(s string, sep byte) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '[' || c == '(':
			depth++
		case c == ']' || c == ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced %q in %s", c, s)
			}
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced brackets in %s", s)
	}
	return append(out, s[start:]), nil
}

// String writes the parameter back in --param syntax.
func (p Param) String() string { return p.Raw }

// keyKind says how a range's draws are written for a key: as integers, as numbers, or not at
// all (a range on a string, list or duration key is refused).
type keyKind int

const (
	kindOther keyKind = iota
	kindInt
	kindFloat
)

// defaults is the embedded default config, read once: it tells a key's type.
var defaults = sync.OnceValue(configs.Default)

func kindOf(key string) keyKind {
	v, ok := defaults().Get(key)
	if !ok {
		return kindOther
	}
	switch v.(type) {
	case int, int64:
		return kindInt
	case float64:
		return kindFloat
	}
	return kindOther
}

// draw draws one value from the range for a key of kind k: integers rounded (both ends
// included), numbers to three significant digits so that tables read well.
func (r *Range) draw(u float64, k keyKind) string {
	var x float64
	if r.Log {
		x = math.Exp(math.Log(r.Lo) + u*(math.Log(r.Hi)-math.Log(r.Lo)))
	} else {
		x = r.Lo + u*(r.Hi-r.Lo)
	}
	if k == kindInt {
		lo, hi := math.Ceil(r.Lo), math.Floor(r.Hi)
		return strconv.FormatInt(int64(min(max(math.Round(x), lo), hi)), 10)
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 3, 64), 64)
	return strconv.FormatFloat(min(max(v, r.Lo), r.Hi), 'g', -1, 64)
}

// ParseParams parses every --param argument, reporting the syntax errors of all of them at
// once, one line each, as a *UsageError.
func ParseParams(raws []string) ([]Param, error) {
	var (
		ps   []Param
		msgs []string
	)
	for _, raw := range raws {
		p, err := ParseParam(raw)
		if err != nil {
			msgs = append(msgs, "sweep: "+err.Error())
			continue
		}
		ps = append(ps, p)
	}
	if len(msgs) > 0 {
		return nil, &UsageError{Msg: strings.Join(msgs, "\n")}
	}
	return ps, nil
}
