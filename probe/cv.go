package probe

// stratifiedFolds returns the test fold (0..k-1) of each sample exactly as scikit-learn's
// StratifiedKFold(n_splits=k, shuffle=False) assigns them: classes are numbered by first
// appearance, the sorted encoded labels are dealt round-robin to the folds to decide how many
// of each class every fold gets, and each class's samples, in order, fill fold 0 first.
func stratifiedFolds(labels []int, k int) []int {
	enc := make([]int, len(labels))
	code := map[int]int{}
	var counts []int
	for i, lab := range labels {
		c, ok := code[lab]
		if !ok {
			c = len(counts)
			code[lab] = c
			counts = append(counts, 0)
		}
		enc[i] = c
		counts[c]++
	}
	nc := len(counts)
	// y_order = sorted(enc); allocation[f][c] = #{c in y_order[f::k]}.
	order := make([]int, 0, len(labels))
	for c, n := range counts {
		for j := 0; j < n; j++ {
			order = append(order, c)
		}
	}
	alloc := make([][]int, k)
	for f := range alloc {
		alloc[f] = make([]int, nc)
		for j := f; j < len(order); j += k {
			alloc[f][order[j]]++
		}
	}
	fold := make([]int, len(labels))
	next := make([]int, nc) // next fold to fill per class
	used := make([]int, nc) // samples of the class put in fold next[c]
	for i, c := range enc {
		for used[c] >= alloc[next[c]][c] {
			next[c]++
			used[c] = 0
		}
		fold[i] = next[c]
		used[c]++
	}
	return fold
}

// split returns the indices of the samples outside and inside fold f, each ascending.
func split(folds []int, f int) (train, test []int) {
	for i, g := range folds {
		if g == f {
			test = append(test, i)
		} else {
			train = append(train, i)
		}
	}
	return train, test
}
