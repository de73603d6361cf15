package configs

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Crop is one group of views of every image in augment.crops: Count random resized crops of
// Scale (the area range, as augment.crop_scale) resized to Size × Size pixels. The first group
// holds the global views, at data.image_size; the others are multi-crop's local views.
type Crop struct {
	Size  int        `yaml:"size"`
	Count int        `yaml:"count"`
	Scale [2]float64 `yaml:"scale,flow"`
}

// maxViews bounds the views of one image over all groups.
const maxViews = 16

var cropType = reflect.TypeOf(Crop{})

// ViewGroups returns the groups of views training draws from each image: augment.crops, or,
// when it is empty, two views at data.image_size of augment.crop_scale.
func (c *Config) ViewGroups() []Crop {
	if len(c.Augment.Crops) > 0 {
		return append([]Crop(nil), c.Augment.Crops...)
	}
	return []Crop{{Size: c.Data.ImageSize, Count: 2, Scale: c.Augment.CropScale}}
}

// validateCrops checks augment.crops: the first group is the global views at data.image_size
// (two at least, for the methods to pair), the others any size.
func (c *Config) validateCrops(bad func(key, reason string)) {
	crops := c.Augment.Crops
	if len(crops) == 0 {
		return
	}
	total := 0
	for i, g := range crops {
		switch {
		case g.Size < 8 || g.Size > MaxImageSize:
			bad("augment.crops", fmt.Sprintf("group %d: size %d must be in [8, %d]", i+1, g.Size, MaxImageSize))
		case g.Count < 1:
			bad("augment.crops", fmt.Sprintf("group %d: count %d must be at least 1", i+1, g.Count))
		case !(g.Scale[0] > 0 && g.Scale[0] <= g.Scale[1] && g.Scale[1] <= 1):
			bad("augment.crops", fmt.Sprintf("group %d: scale %s: want [min, max] with 0 < min <= max <= 1", i+1, formatPair(g.Scale)))
		}
		total += g.Count
	}
	if g := crops[0]; g.Size != c.Data.ImageSize || g.Count < 2 {
		bad("augment.crops", fmt.Sprintf("the first group holds the global views: at data.image_size (%d px) and at least 2 of them (have %d of %d px)", c.Data.ImageSize, g.Count, g.Size))
	}
	if total > maxViews {
		bad("augment.crops", fmt.Sprintf("%d views per image: at most %d", total, maxViews))
	}
}

// toStruct converts a YAML mapping (or a flow mapping in a string) into a struct of type t by
// its fields' yaml names; a key the struct lacks is refused.
func toStruct(raw any, t reflect.Type) (reflect.Value, error) {
	var m map[string]any
	switch v := raw.(type) {
	case map[string]any:
		m = v
	case map[any]any:
		m = map[string]any{}
		for k, x := range v {
			m[fmt.Sprint(k)] = x
		}
	default:
		return reflect.Value{}, fmt.Errorf("want a mapping such as {%s}", structExample(t))
	}
	out := reflect.New(t).Elem()
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		i := fieldIndex(t, k)
		if i < 0 {
			return reflect.Value{}, fmt.Errorf("unknown key %q (want %s)", k, strings.Join(structFields(t), ", "))
		}
		v, err := convert(m[k], t.Field(i).Type)
		if err != nil {
			return reflect.Value{}, fmt.Errorf("%s: %w", k, err)
		}
		out.Field(i).Set(v)
	}
	return out, nil
}

func fieldIndex(t reflect.Type, name string) int {
	for i := 0; i < t.NumField(); i++ {
		if strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0] == name {
			return i
		}
	}
	return -1
}

func structFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		out = append(out, strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0])
	}
	return out
}

func structExample(t reflect.Type) string {
	if t == cropType {
		return "size: 96, count: 2, scale: [0.14, 1]"
	}
	return strings.Join(structFields(t), ": ..., ") + ": ..."
}

// formatCrops writes crops as a YAML flow list, which --set and the environment read back.
func formatCrops(crops []Crop) string {
	parts := make([]string, len(crops))
	for i, g := range crops {
		parts[i] = fmt.Sprintf("{size: %d, count: %d, scale: %s}", g.Size, g.Count, formatPair(g.Scale))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func formatPair(p [2]float64) string {
	return fmt.Sprintf("[%s, %s]", strconv.FormatFloat(p[0], 'g', -1, 64), strconv.FormatFloat(p[1], 'g', -1, 64))
}
