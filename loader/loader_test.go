package loader

import (
	"context"
	"slices"
	"testing"

	"github.com/natssl/natssl/configs"
)

func openSmoke(t testing.TB) Source {
	t.Helper()
	src, err := OpenFolder(smokeDir)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestLoaderDeliversEveryImageOncePerEpoch(t *testing.T) {
	src := openSmoke(t)
	l := newTestLoader(t, src, Options{Seed: 1, Epochs: 2, ShuffleBuffer: 16, Workers: 2})
	batches := run(t, l)
	all := flatten(batches)
	if len(all) != 2*smokeImages {
		t.Fatalf("got %d samples over 2 epochs, want %d", len(all), 2*smokeImages)
	}
	e0, e1 := all[:smokeImages], all[smokeImages:]
	if !slices.Equal(sorted(e0), sorted(e1)) {
		t.Errorf("the two epochs hold different samples")
	}
	if slices.Equal(e0, e1) {
		t.Errorf("both epochs came in the same order; want a reshuffle per epoch")
	}
	for i := 1; i < len(sorted(e0)); i++ {
		if s := sorted(e0); s[i] == s[i-1] {
			t.Errorf("sample %s twice in one epoch", s[i])
		}
	}
	if got := l.Position(); got != (Position{Epoch: 2, World: 1}) {
		t.Errorf("position after the last batch = %+v, want {2 0}", got)
	}
	if st := l.Stats(); st.Images != 2*smokeImages || st.SkippedTotal() != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBatchShapeAndValues(t *testing.T) {
	l := newTestLoader(t, openSmoke(t), Options{Seed: 3, Epochs: 1, BatchSize: 5, ImageSize: 24})
	b, err := l.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b.N != 5 || b.Size != 24 || len(b.Views[0]) != 5*3*24*24 || len(b.Views[1]) != 5*3*24*24 || len(b.Labels) != 5 || len(b.Keys) != 5 {
		t.Fatalf("batch N=%d Size=%d views %d/%d labels %d keys %d", b.N, b.Size, len(b.Views[0]), len(b.Views[1]), len(b.Labels), len(b.Keys))
	}
	if slices.Equal(b.Views[0], b.Views[1]) {
		t.Errorf("the two views are identical")
	}
	for v := range 2 {
		for _, x := range b.Views[v] {
			if !(x > -3 && x < 3) { // ImageNet-normalised pixels lie in about [-2.2, 2.7]
				t.Fatalf("view %d holds %v", v, x)
			}
		}
	}
	for i, lab := range b.Labels {
		if lab < 0 || lab > 4 {
			t.Errorf("label %d of %s = %d, want a class index 0..4", i, b.Keys[i], lab)
		}
	}
}

func TestReplicasSplitBatch(t *testing.T) {
	l := newTestLoader(t, openSmoke(t), Options{Seed: 3, Epochs: 1, BatchSize: 7})
	b, err := l.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	per := 3 * b.Size * b.Size
	var keys []string
	for r := range 3 {
		p := b.Replica(r, 3)
		if len(p.Views[0]) != p.N*per || len(p.Keys) != p.N {
			t.Fatalf("replica %d: N=%d views %d keys %d", r, p.N, len(p.Views[0]), len(p.Keys))
		}
		keys = append(keys, p.Keys...)
	}
	if !slices.Equal(keys, b.Keys) {
		t.Errorf("replicas cover %v, want %v", keys, b.Keys)
	}
}

// TestMultiCropBatch: with augment.crops a batch holds every group's views at their sizes, in
// order, a replica's part of each; without it, the two views of image_size.
func TestMultiCropBatch(t *testing.T) {
	aug := testAugment()
	aug.Crops = []configs.Crop{{Size: 24, Count: 2, Scale: [2]float64{0.3, 1}}, {Size: 12, Count: 3, Scale: [2]float64{0.05, 0.3}}}
	l := newTestLoader(t, openSmoke(t), Options{Seed: 3, Epochs: 1, BatchSize: 6, ImageSize: 24, Augment: aug})
	b, err := l.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{24, 24, 12, 12, 12}
	if b.N != 6 || b.Size != 24 || !slices.Equal(b.Sizes, sizes) || len(b.Views) != len(sizes) {
		t.Fatalf("batch N=%d Size=%d sizes %v views %d", b.N, b.Size, b.Sizes, len(b.Views))
	}
	for v, s := range sizes {
		if len(b.Views[v]) != 6*3*s*s {
			t.Errorf("view %d holds %d floats, want %d", v, len(b.Views[v]), 6*3*s*s)
		}
		for w := 0; w < v; w++ {
			if sizes[w] == s && slices.Equal(b.Views[v], b.Views[w]) {
				t.Errorf("views %d and %d are identical", w, v)
			}
		}
	}
	p := b.Replica(1, 2)
	for v, s := range sizes {
		per := 3 * s * s
		if !slices.Equal(p.Views[v], b.Views[v][3*per:6*per]) {
			t.Errorf("replica 1 of 2: view %d is not the second half", v)
		}
	}
}
