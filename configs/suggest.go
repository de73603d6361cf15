package configs

import (
	"reflect"
	"strings"
)

// synonyms are the names other training tools (PyTorch Lightning, solo-learn, timm, the
// SimCLR reference code) give to natssl's keys, by the last part of the key: an unknown key
// is matched by meaning before spelling, so that train.learning_rate suggests train.lr.
var synonyms = map[string]string{
	"learning_rate": "lr", "base_lr": "lr", "lr_rate": "lr",
	"batch": "batch_size", "bs": "batch_size", "batchsize": "batch_size", "global_batch_size": "batch_size",
	"iterations": "steps", "iters": "steps", "max_steps": "steps", "num_steps": "steps", "total_steps": "steps",
	"max_epochs": "epochs", "num_epochs": "epochs",
	"wd": "weight_decay", "decay": "weight_decay",
	"temp": "temperature", "tau": "temperature",
	"arch": "backbone", "architecture": "backbone", "network": "backbone", "encoder": "backbone",
	"optim": "optimizer", "opt": "optimizer", "optimiser": "optimizer",
	"gpus": "devices", "gpu": "devices", "device": "devices", "accelerator": "devices",
	"img_size": "image_size", "resolution": "image_size", "crop_size": "image_size", "input_size": "image_size", "size": "image_size",
	"warmup": "warmup_steps", "warmup_iters": "warmup_steps", "warmup_epochs": "warmup_steps",
	"save_every": "checkpoint_every", "ckpt_every": "checkpoint_every", "checkpoint_interval": "checkpoint_every", "save_freq": "checkpoint_every",
	"log_interval": "log_every", "log_freq": "log_every", "print_freq": "log_every", "log_every_n_steps": "log_every",
	"num_workers": "workers", "threads": "workers",
	"path": "source", "dir": "source", "data_dir": "source", "train_dir": "source", "dataset": "source",
	"output_dir": "out_dir", "output": "out_dir", "out": "out_dir", "save_dir": "out_dir", "checkpoint_dir": "out_dir",
	"experiment": "name", "run_name": "name", "exp_name": "name",
	"projection_dim": "proj_dim", "out_dim": "proj_dim", "feature_dim": "proj_dim", "proj_output_dim": "proj_dim",
	"hidden_dim": "proj_hidden", "proj_hidden_dim": "proj_hidden", "projection_hidden": "proj_hidden",
	"max_time": "time_limit", "timeout": "time_limit", "time": "time_limit", "max_duration": "time_limit",
	"max_checkpoints": "keep_checkpoints", "save_top_k": "keep_checkpoints", "keep": "keep_checkpoints",
	"random_seed": "seed", "database": "db", "tracker": "db",
	"min_scale": "crop_scale", "scale": "crop_scale", "hflip": "flip_p", "horizontal_flip": "flip_p",
	"probe": "classifier", "linear_probe": "classifier",
	"val_check_interval": "monitor_every", "eval_every": "monitor_every", "knn_every": "monitor_every", "monitor_interval": "monitor_every",
	"val_labels": "val_csv", "val_dir": "val_images", "val_path": "val_images", "val_data": "val_images",
	"max_concurrency": "concurrency", "max_concurrent_requests": "concurrency",
	"base_tau_momentum": "tau_base", "base_tau": "tau_base", "final_tau_momentum": "tau_final", "final_tau": "tau_final",
	"pred_hidden_dim": "pred_hidden", "predictor_hidden": "pred_hidden",
	"queue": "queue_size", "num_negatives": "queue_size",
	"sim_loss_weight": "sim_coeff", "invariance_weight": "sim_coeff",
	"var_loss_weight": "std_coeff", "variance_weight": "std_coeff",
	"cov_loss_weight": "cov_coeff", "covariance_weight": "cov_coeff",
	"lamb": "lambda", "offdiag_weight": "lambda",
	"multicrop": "crops", "num_crops": "crops", "local_crops": "crops",
}

// suggest returns the known key an unknown one most likely meant, or "": one whose last part
// is the unknown key's last part or its synonym (in the same section when there is one), else
// the nearest by spelling.
func suggest(key string) string {
	key = strings.ToLower(strings.TrimSpace(key))
	section, leaf := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		section, leaf = key[:i], key[i+1:]
	}
	for _, l := range []string{leaf, synonyms[leaf]} {
		if l == "" {
			continue
		}
		var match []string
		for _, k := range Keys() {
			ks, kl := "", k
			if i := strings.LastIndexByte(k, '.'); i >= 0 {
				ks, kl = k[:i], k[i+1:]
			}
			if kl != l {
				continue
			}
			if ks == section || strings.HasPrefix(ks, section+".") {
				return k
			}
			match = append(match, k)
		}
		if len(match) == 1 {
			return match[0]
		}
	}
	return suggestBySpelling(key)
}

// Values returns the values key accepts when they are a fixed set (methods, backbones,
// optimizers, classifiers, true and false, the usual devices), for shell completion; nil
// otherwise.
func Values(key string) []string {
	switch key {
	case "method.name":
		return append([]string(nil), Methods...)
	case "model.backbone":
		return append([]string(nil), backbones...)
	case "train.optimizer":
		return append([]string(nil), optimizers...)
	case "eval.classifier":
		return append([]string(nil), classifiers...)
	case "train.devices":
		return []string{"cpu", "[cpu, cpu]", "cuda:0", "[cuda:0, cuda:1]"}
	}
	fields()
	if f, ok := fieldByKey[key]; ok && f.typ.Kind() == reflect.Bool {
		return []string{"true", "false"}
	}
	return nil
}
