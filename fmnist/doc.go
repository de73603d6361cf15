// Package fmnist turns Debian's dataset-fashion-mnist (the idx files under
// /usr/share/datasets/fashion-mnist) into the formats natssl reads in the wild, so that the
// demo trains and evaluates on real photographs through the same code paths as iNat and NeWT:
//
//   - the 60,000 training images as an iNaturalist 2021-style dataset: a COCO-style train.json
//     whose file_name values look like train/00003_Dress/fmnist-train-00017.jpg, the JPEGs packed
//     in tar shards train-000.tar ... (data.source = train.json; data.root left unset finds the shards beside it);
//   - a NeWT-layout suite from the 10,000 test images: newt/labels.csv with the NeWT columns and
//     newt/images.tar.gz, binary tasks between easily confused classes, 100 train + 100 test
//     images per class per task, disjoint across tasks, chosen deterministically by a seed;
//   - a monitor set for the online kNN score: monitor/images.tar, 100 more test images per class
//     that the suite does not use, in iNat-style class folders (00003_Dress/...), so that the
//     label is read from the folder (eval.monitor_knn);
//   - a validation suite of the same tasks and layout built from the training images
//     (val/labels.csv, val/images.tar.gz), for choosing a recipe (natssl sweep) without looking
//     at the evaluation suite: its images are never test images. They may be among the images
//     self-supervised training reads, without their labels, as NeWT-style validation allows.
//
// The three sets share no image: the monitor set takes only test images the evaluation suite
// does not use, and the validation suite only training images.
//
// `natssl data fashion-mnist` is its command line.
package fmnist
