// Package probe scores frozen image features with the NeWT linear-probe protocol.
//
// The protocol is the benchmark's own (visipedia/newt, linear_evaluation.py with --standardize
// --normalize --grid_search): per task, a standard scaler fitted on the task's train split,
// L2-normalised rows, a linear SVM with squared hinge loss and L2 penalty solved in the primal
// (liblinear's trust-region Newton method, as scikit-learn's LinearSVC(dual=False) runs it,
// bias regularised with intercept_scaling 1), C chosen from {1e-4 ... 1000} by 3-fold stratified
// unshuffled cross-validation on accuracy (ties to the smaller C), a refit on all train rows,
// and the accuracy on the test split.
//
// The package reads the suite (ReadSuite: the labels CSV, validated before any work), the images
// (ReadImages: a folder of <id>.jpg or a tar/tar.gz streamed once), turns images into features
// with any Encoder (Extract), writes and reads the features as .npy plus an ids file (WriteNPY,
// ReadNPY) so that scikit-learn can score the same matrix, and runs the protocol (Evaluate),
// tasks in parallel with the same numbers as serially. Each task's result keeps the classifier's
// answer for every test image (TaskResult.Predictions), so that a report can resample test images
// for confidence intervals and pair two encoders image by image.
//
// KNN is the other frozen-feature score, the one SSL papers watch while they train: a weighted
// k-nearest-neighbour vote by cosine similarity (k = 20, weights exp(similarity / 0.07), as
// DINO's eval_knn.py and solo-learn's WeightedKNNClassifier), against a labelled bank or, leave
// one out, within one labelled set.
//
// The encoders come from package trainer and the preprocessing from augment, through the
// Encoder interface: this package imports neither.
package probe
