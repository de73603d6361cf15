package configs

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// field is one leaf key of Config and the path of struct field indexes that reaches it.
type field struct {
	key   string
	index []int
	typ   reflect.Type
}

var (
	fieldsOnce sync.Once
	fieldList  []field
	fieldByKey map[string]field
	sections   map[string]bool
)

func fields() []field {
	fieldsOnce.Do(func() {
		fieldByKey = map[string]field{}
		sections = map[string]bool{}
		walkFields(reflect.TypeOf(Config{}), "", nil)
		sort.Slice(fieldList, func(i, j int) bool { return fieldList[i].key < fieldList[j].key })
	})
	return fieldList
}

var durationType = reflect.TypeOf(Duration(0))

func walkFields(t reflect.Type, prefix string, index []int) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if tag == "" || !sf.IsExported() {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		idx := append(append([]int(nil), index...), i)
		if sf.Type.Kind() == reflect.Struct && sf.Type != durationType {
			sections[key] = true
			walkFields(sf.Type, key, idx)
			continue
		}
		f := field{key: key, index: idx, typ: sf.Type}
		fieldList = append(fieldList, f)
		fieldByKey[key] = f
	}
}

// Keys returns every leaf key ("train.lr", "data.s3.region", ...) in sorted order.
func Keys() []string {
	fs := fields()
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.key
	}
	return out
}

// IsKey reports whether key is a leaf key of Config.
func IsKey(key string) bool {
	fields()
	_, ok := fieldByKey[key]
	return ok
}

func isSection(key string) bool {
	fields()
	return sections[key]
}

// Get returns the value of a leaf key.
func (c *Config) Get(key string) (any, bool) {
	fields()
	f, ok := fieldByKey[key]
	if !ok {
		return nil, false
	}
	return reflect.ValueOf(c).Elem().FieldByIndex(f.index).Interface(), true
}

// Set stores value under key as a layer named origin sets it (a job's resourceconfig.json, a
// sweep's trial), converted as a --set value is, and records origin for messages. It does not
// validate: call Validate after the last change.
func (c *Config) Set(key string, value any, origin string) error {
	fields()
	if err := c.set(key, value); err != nil {
		return &FieldError{Key: key, Value: fmt.Sprint(value), Reason: err.Error(), Origin: origin}
	}
	if c.origins == nil {
		c.origins = map[string]string{}
	}
	c.origins[key] = origin
	return nil
}

// set converts raw (a YAML-typed value or a string from env, --set or a hyperparameter) to the
// key's type and stores it. The error says what was wanted; the caller adds key and origin.
func (c *Config) set(key string, raw any) error {
	f, ok := fieldByKey[key]
	if !ok {
		return fmt.Errorf("unknown key")
	}
	dst := reflect.ValueOf(c).Elem().FieldByIndex(f.index)
	v, err := convert(raw, f.typ)
	if err != nil {
		return err
	}
	dst.Set(v)
	return nil
}

func convert(raw any, t reflect.Type) (reflect.Value, error) {
	if t == durationType {
		d, err := toDuration(raw)
		return reflect.ValueOf(Duration(d)), err
	}
	switch t.Kind() {
	case reflect.String:
		s, err := toString(raw)
		return reflect.ValueOf(s).Convert(t), err
	case reflect.Int, reflect.Int64:
		n, err := toInt(raw)
		return reflect.ValueOf(n).Convert(t), err
	case reflect.Float64:
		x, err := toFloat(raw)
		return reflect.ValueOf(x), err
	case reflect.Bool:
		b, err := toBool(raw)
		return reflect.ValueOf(b), err
	case reflect.Struct:
		return toStruct(raw, t)
	case reflect.Array, reflect.Slice:
		items, err := toList(raw)
		if err != nil {
			return reflect.Value{}, err
		}
		if t.Elem().Kind() == reflect.Struct && raw != nil {
			if str, ok := raw.(string); ok && !strings.HasPrefix(strings.TrimSpace(str), "[") && strings.TrimSpace(str) != "" {
				return reflect.Value{}, fmt.Errorf("want a list such as [{%s}]", structExample(t.Elem()))
			}
		}
		if t.Kind() == reflect.Array && len(items) != t.Len() {
			return reflect.Value{}, fmt.Errorf("want a list of %d values, got %d", t.Len(), len(items))
		}
		out := reflect.New(t).Elem()
		if t.Kind() == reflect.Slice {
			out = reflect.MakeSlice(t, len(items), len(items))
		}
		for i, it := range items {
			ev, err := convert(it, t.Elem())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("item %d: %w", i, err)
			}
			out.Index(i).Set(ev)
		}
		return out, nil
	}
	panic(fmt.Sprintf("configs: no conversion for %v", t))
}

func toString(raw any) (string, error) {
	switch v := raw.(type) {
	case string:
		return v, nil
	case nil:
		return "", nil
	case int, int64, float64, bool:
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("want a string")
}

func toInt(raw any) (int64, error) {
	switch v := raw.(type) {
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), nil
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("want an integer")
}

// toFloat converts a number; infinities and NaN (YAML's .inf and .nan, "+Inf" from --set,
// the environment or a hyperparameter) are refused: no key means anything by them, and a
// temperature or learning rate of ∞ trains to nonsense without failing.
func toFloat(raw any) (float64, error) {
	x, err := anyFloat(raw)
	if err != nil {
		return 0, err
	}
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, fmt.Errorf("want a finite number")
	}
	return x, nil
}

func anyFloat(raw any) (float64, error) {
	switch v := raw.(type) {
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case float64:
		return v, nil
	case string:
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err == nil {
			return x, nil
		}
	}
	return 0, fmt.Errorf("want a number")
}

func toBool(raw any) (bool, error) {
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("want true or false")
}

func toDuration(raw any) (time.Duration, error) {
	switch v := raw.(type) {
	case int:
		if v == 0 {
			return 0, nil
		}
	case int64:
		if v == 0 {
			return 0, nil
		}
	case string:
		s := strings.TrimSpace(v)
		if s == "0" || s == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(s)
		if err == nil {
			return d, nil
		}
	}
	return 0, fmt.Errorf("want a duration such as 10m or 1h30m")
}

// toList accepts a YAML list, or a string: "[a, b]" (YAML flow) or "a,b".
func toList(raw any) ([]any, error) {
	switch v := raw.(type) {
	case []any:
		return v, nil
	case nil:
		return nil, nil
	case string:
		s := strings.TrimSpace(v)
		if strings.HasPrefix(s, "[") {
			var items []any
			if err := yaml.Unmarshal([]byte(s), &items); err != nil {
				return nil, fmt.Errorf("want a list such as [a, b]")
			}
			return items, nil
		}
		if s == "" {
			return nil, nil
		}
		var items []any
		for _, p := range strings.Split(s, ",") {
			items = append(items, strings.TrimSpace(p))
		}
		return items, nil
	}
	return nil, fmt.Errorf("want a list")
}

func formatValue(v any) string {
	switch x := v.(type) {
	case Duration:
		return time.Duration(x).String()
	case [2]float64:
		return fmt.Sprintf("[%s, %s]", strconv.FormatFloat(x[0], 'g', -1, 64), strconv.FormatFloat(x[1], 'g', -1, 64))
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	case []Crop:
		return formatCrops(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// envName is the environment variable that sets key: train.lr -> NATSSL_TRAIN_LR.
func envName(key string) string {
	return "NATSSL_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// suggestBySpelling returns the known key closest to an unknown one in spelling, or "".
func suggestBySpelling(key string) string {
	best, bestD := "", 4
	for _, k := range Keys() {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
