package sagemaker

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/natssl/natssl/configs"
	"github.com/natssl/natssl/internal/tarstream"
)

// The channels natssl reads. launch creates them from s3:// config values; Apply points the
// config at their folders inside the job.
const (
	TrainChannel = "train" // data.source
	NewtChannel  = "newt"  // eval.newt_csv and eval.images
)

// isS3 reports whether a config value names S3 objects.
func isS3(s string) bool { return strings.HasPrefix(s, "s3://") }

// fileExts are the endings, besides a tar archive's, that make an s3:// URL one object rather
// than a folder.
var fileExts = []string{".json", ".csv", ".jpg", ".jpeg", ".png"}

// s3Folder returns the folder of an s3:// URL, ending in "/": the URL itself when it names a
// folder, its parent when it names an object or a shard pattern (shards-{000..099}.tar).
func s3Folder(uri string) string {
	if strings.HasSuffix(uri, "/") {
		return uri
	}
	base := path.Base(strings.TrimPrefix(uri, "s3://"))
	isFile := strings.Contains(base, "{") || tarstream.IsName(base)
	for _, ext := range fileExts {
		isFile = isFile || strings.HasSuffix(strings.ToLower(base), ext)
	}
	if !isFile {
		return uri + "/"
	}
	return uri[:strings.LastIndex(uri, "/")+1]
}

// channelPrefix returns the S3 prefix one channel is created from so that it carries every
// one of uris: their deepest common folder. SageMaker copies each object under the prefix to
// the channel's folder at its key relative to the prefix, so localPath can find them again.
func channelPrefix(uris ...string) (string, error) {
	var prefix []string
	for i, u := range uris {
		if !isS3(u) {
			return "", fmt.Errorf("sagemaker: %q is not an s3:// URL", u)
		}
		parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(s3Folder(u), "s3://"), "/"), "/")
		if parts[0] == "" {
			return "", fmt.Errorf("sagemaker: %q names no bucket", u)
		}
		if i == 0 {
			prefix = parts
			continue
		}
		if parts[0] != prefix[0] {
			return "", fmt.Errorf("sagemaker: %q and %q are in different buckets: one channel reads one bucket", uris[0], u)
		}
		n := 0
		for n < len(prefix) && n < len(parts) && prefix[n] == parts[n] {
			n++
		}
		prefix = prefix[:n]
	}
	if len(prefix) == 0 {
		return "", fmt.Errorf("sagemaker: no s3:// URL for the channel")
	}
	return "s3://" + strings.Join(prefix, "/") + "/", nil
}

// localPath is where uri lands inside a channel created from prefix.
func localPath(dir, prefix, uri string) string {
	rel, ok := strings.CutPrefix(uri, prefix)
	if !ok || rel == "" {
		return dir // uri is the prefix's folder itself
	}
	return filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(rel, "/")))
}

// Apply points cfg at the job's folders: data.source at the train channel, the NeWT suite at
// the newt channel, run.out_dir and run.db at RunDir in the checkpoint folder, so that both are
// synced to S3 and restored on a spot restart. An s3:// value that launch turned into a channel
// is mapped to its copy inside the channel; without one, the channel's folder itself is used
// (the suite's files are then found by their shape). sagemaker.instance_count becomes the
// job's host count. It validates the result.
func (j *Job) Apply(cfg *configs.Config) error {
	if n := j.HostCount(); n != cfg.SageMaker.InstanceCount {
		// The job's hosts, not the config it was launched with, say how many instances run
		// it; the config's rules then judge that number.
		if err := cfg.Set("sagemaker.instance_count", n, j.configFile("resourceconfig.json")); err != nil {
			return err
		}
	}
	cfg.Run.OutDir = j.RunDir()
	cfg.Run.DB = filepath.Join(j.RunDir(), filepath.Base(cfg.Run.DB))
	if c, ok := j.Channels[TrainChannel]; ok {
		if err := c.exists(); err != nil {
			return err
		}
		// data.root inside the channel's S3 folder was copied with it; one elsewhere on S3 is
		// read from there by the loader; a local one is on the launching machine, not here, so
		// the manifest's images are looked for beside it, in the channel.
		prefix, err := channelPrefix(cfg.Data.Source)
		switch {
		case !isS3(cfg.Data.Root):
			cfg.Data.Root = ""
		case err == nil && strings.HasPrefix(s3Folder(cfg.Data.Root), prefix):
			cfg.Data.Root = localPath(c.Dir, prefix, cfg.Data.Root)
		}
		cfg.Data.Source = c.path(cfg.Data.Source)
	}
	if c, ok := j.Channels[NewtChannel]; ok {
		if err := c.exists(); err != nil {
			return err
		}
		if err := c.applyNewt(&cfg.Eval); err != nil {
			return err
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("sagemaker: the config pointed at the job's folders: %w", err)
	}
	return nil
}

func (c Channel) exists() error {
	if fi, err := os.Stat(c.Dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("sagemaker: channel %q is declared in inputdataconfig.json but its folder %s is missing", c.Name, c.Dir)
	}
	return nil
}

// path maps a config value to the channel: its copy when it is an s3:// URL the channel was
// created from, else the channel's folder.
func (c Channel) path(value string) string {
	if !isS3(value) {
		return c.Dir
	}
	prefix, err := channelPrefix(value)
	if err != nil {
		return c.Dir
	}
	return localPath(c.Dir, prefix, value)
}

// applyNewt maps eval.newt_csv and eval.images into the newt channel. Values that were not
// s3:// URLs at launch are found by shape: the one .csv file, and the images/ folder or the
// one .tar[.gz] file.
func (c Channel) applyNewt(e *configs.Eval) error {
	var s3 []string
	for _, v := range []string{e.NewtCSV, e.Images} {
		if isS3(v) {
			s3 = append(s3, v)
		}
	}
	if len(s3) > 0 {
		prefix, err := channelPrefix(s3...)
		if err == nil {
			if isS3(e.NewtCSV) {
				e.NewtCSV = localPath(c.Dir, prefix, e.NewtCSV)
			}
			if isS3(e.Images) {
				e.Images = localPath(c.Dir, prefix, e.Images)
			}
		}
	}
	if !isS3(e.NewtCSV) && !strings.HasPrefix(e.NewtCSV, c.Dir) {
		csv, err := c.findOne(func(name string, dir bool) bool { return !dir && strings.HasSuffix(name, ".csv") }, "NeWT labels .csv file")
		if err != nil {
			return err
		}
		e.NewtCSV = csv
	}
	if !isS3(e.Images) && !strings.HasPrefix(e.Images, c.Dir) {
		img, err := c.findOne(func(name string, dir bool) bool {
			return (dir && name == "images") || (!dir && tarstream.IsName(name))
		}, "NeWT images (an images/ folder or a .tar, .tar.gz or .tgz file)")
		if err != nil {
			return err
		}
		e.Images = img
	}
	return nil
}

// findOne returns the one entry of the channel's folder that match accepts.
func (c Channel) findOne(match func(name string, dir bool) bool, what string) (string, error) {
	ents, err := os.ReadDir(c.Dir)
	if err != nil {
		return "", fmt.Errorf("sagemaker: channel %q: %w", c.Name, err)
	}
	var found []string
	for _, e := range ents {
		if match(e.Name(), e.IsDir()) {
			found = append(found, e.Name())
		}
	}
	sort.Strings(found)
	switch len(found) {
	case 1:
		return filepath.Join(c.Dir, found[0]), nil
	case 0:
		return "", fmt.Errorf("sagemaker: channel %q (%s) holds no %s", c.Name, c.Dir, what)
	}
	return "", fmt.Errorf("sagemaker: channel %q (%s) has more than one %s: %s; name the one to use with an s3:// eval key at launch", c.Name, c.Dir, what, strings.Join(found, ", "))
}
