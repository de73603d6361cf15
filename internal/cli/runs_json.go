package cli

import (
	"time"

	"github.com/natssl/natssl/experiments"
	"github.com/natssl/natssl/experiments/metric"
)

// runJSON is one run of `runs list --json`.
type runJSON struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Status      string     `json:"status"`
	Stale       bool       `json:"stale"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at"`
	HeartbeatAt time.Time  `json:"heartbeat_at"`
	DurationS   float64    `json:"duration_s"`
	Steps       int64      `json:"steps"`
	Loss        *num       `json:"loss"`      // the mean loss of the last logging window
	LossLast    *num       `json:"loss_last"` // the loss of the last step
	Archived    bool       `json:"archived"`
	ImagesPerS  *num       `json:"images_per_s"`
	NeWTMean    *num       `json:"newt_mean"`
	NeWTStep    *int64     `json:"newt_checkpoint_step"`
	NeWTTasks   int        `json:"newt_tasks"`
	NeWTProbe   string     `json:"newt_classifier"`
	Error       string     `json:"error,omitempty"`
}

func newRunJSON(r *experiments.RunInfo) runJSON {
	j := runJSON{ID: r.ID, Name: r.Name, Status: string(r.Status), Stale: r.Stale, StartedAt: r.StartedAt,
		HeartbeatAt: r.HeartbeatAt, DurationS: r.Duration().Seconds(), Steps: r.Steps, Error: r.Error}
	if !r.EndedAt.IsZero() {
		t := r.EndedAt
		j.EndedAt = &t
	}
	if m, ok := r.Latest[metric.Loss]; ok {
		v := num(m.Value)
		j.Loss = &v
	}
	if m, ok := r.Latest[metric.LossLast]; ok {
		v := num(m.Value)
		j.LossLast = &v
	}
	j.Archived = r.Archived()
	if m, ok := r.Latest[metric.ImagesPerS]; ok {
		v := num(m.Value)
		j.ImagesPerS = &v
	}
	if r.NeWT != nil {
		v, s := num(r.NeWT.Mean), r.NeWT.CheckpointStep
		j.NeWTMean, j.NeWTStep, j.NeWTTasks, j.NeWTProbe = &v, &s, r.NeWT.Tasks, r.NeWT.Classifier
	}
	return j
}

type metricJSON struct {
	Step  int64     `json:"step"`
	Value num       `json:"value"`
	At    time.Time `json:"at"`
}

type checkpointJSON struct {
	Step   int64     `json:"step"`
	Path   string    `json:"path"`
	SHA256 string    `json:"sha256"`
	Bytes  int64     `json:"bytes"`
	At     time.Time `json:"at"`
}

// runExportJSON is one export of `runs show --json`.
type runExportJSON struct {
	Path             string    `json:"path"`
	Format           string    `json:"format"`
	SHA256           string    `json:"sha256"`
	Bytes            int64     `json:"bytes"`
	CheckpointStep   int64     `json:"checkpoint_step"`
	CheckpointSHA256 string    `json:"checkpoint_sha256"`
	ImageSize        int       `json:"image_size"`
	WithHead         bool      `json:"with_head"`
	Params           int64     `json:"params"`
	MFLOPs           num       `json:"mflops"`
	Version          string    `json:"natssl_version"`
	At               time.Time `json:"at"`
}

type evalJSON struct {
	EvaluationID   int64  `json:"evaluation_id"`
	CheckpointStep int64  `json:"checkpoint_step"`
	Suite          string `json:"suite"`
	Task           string `json:"task"`
	Cluster        string `json:"cluster"`
	Subcluster     string `json:"subcluster"`
	Metric         string `json:"metric"`
	Value          num    `json:"value"`
}

type evaluationJSON struct {
	ID             int64     `json:"id"`
	CheckpointStep int64     `json:"checkpoint_step"`
	CheckpointPath string    `json:"checkpoint_path"`
	Suite          string    `json:"suite"`
	SuitePath      string    `json:"suite_path"`
	SuiteSHA256    string    `json:"suite_sha256"`
	Images         string    `json:"images"`
	Classifier     string    `json:"classifier"`
	At             time.Time `json:"at"`
}

type groupJSON struct {
	Cluster    string `json:"cluster"`
	Subcluster string `json:"subcluster,omitempty"`
	Tasks      int    `json:"tasks"`
	Mean       num    `json:"mean"`
}

type summaryJSON struct {
	EvaluationID   int64       `json:"evaluation_id"`
	Classifier     string      `json:"classifier"`
	CheckpointStep int64       `json:"checkpoint_step"`
	Suite          string      `json:"suite"`
	Metric         string      `json:"metric"`
	Tasks          int         `json:"tasks"`
	Mean           num         `json:"mean"`
	Clusters       []groupJSON `json:"clusters"`
	Subclusters    []groupJSON `json:"subclusters"`
}

// runRecordJSON is `runs show --json`.
type runRecordJSON struct {
	runJSON
	Seed          int64                 `json:"seed"`
	GitCommit     string                `json:"git_commit"`
	Host          string                `json:"host"`
	Command       string                `json:"command"`
	Tags          map[string]string     `json:"tags"`
	Params        map[string]string     `json:"params"`
	ConfigYAML    string                `json:"config_yaml"`
	LatestMetrics map[string]metricJSON `json:"latest_metrics"`
	Checkpoints   []checkpointJSON      `json:"checkpoints"`
	Evaluations   []evaluationJSON      `json:"evaluations"`
	Evals         []evalJSON            `json:"evals"`
	EvalSummaries []summaryJSON         `json:"eval_summaries"`
	Exports       []runExportJSON       `json:"exports"`
}

func newRunRecordJSON(rec *experiments.RunRecord) runRecordJSON {
	j := runRecordJSON{runJSON: newRunJSON(&rec.RunInfo), Seed: rec.Seed, GitCommit: rec.GitCommit, Host: rec.Host,
		Command: rec.Command, Tags: rec.Tags, Params: map[string]string{}, ConfigYAML: rec.ConfigYAML,
		LatestMetrics: map[string]metricJSON{}, Checkpoints: []checkpointJSON{}, Evaluations: []evaluationJSON{}, Evals: []evalJSON{},
		EvalSummaries: []summaryJSON{}, Exports: []runExportJSON{}}
	for _, p := range rec.Params {
		j.Params[p.Key] = p.Value
	}
	for k, m := range rec.Latest {
		j.LatestMetrics[k] = metricJSON{Step: m.Step, Value: num(m.Value), At: m.At}
	}
	for _, c := range rec.Checkpoints {
		j.Checkpoints = append(j.Checkpoints, checkpointJSON{c.Step, c.Path, c.SHA256, c.Bytes, c.At})
	}
	for _, x := range rec.Exports {
		j.Exports = append(j.Exports, runExportJSON{x.Path, x.Format, x.SHA256, x.Bytes, x.CheckpointStep, x.CheckpointSHA256,
			x.ImageSize, x.WithHead, x.Params, num(x.MFLOPs), x.Version, x.At})
	}
	for _, v := range rec.Evaluations {
		j.Evaluations = append(j.Evaluations, evaluationJSON{v.ID, v.CheckpointStep, v.CheckpointPath, v.Suite, v.SuitePath,
			v.SuiteSHA256, v.Images, v.Classifier, v.At})
	}
	for _, e := range rec.Evals {
		j.Evals = append(j.Evals, evalJSON{e.EvaluationID, e.CheckpointStep, e.Suite, e.Task, e.Cluster, e.Subcluster, e.Metric, num(e.Value)})
	}
	// Summaries are of accuracy: a mean of the chosen C values is no score.
	for _, suite := range evalSuites(rec.Evals) {
		for _, s := range experiments.Summarize(rec.Evals, suite, experiments.MetricAccuracy) {
			sj := summaryJSON{EvaluationID: s.EvaluationID, Classifier: s.Classifier, CheckpointStep: s.CheckpointStep,
				Suite: s.Suite, Metric: s.Metric, Tasks: s.Tasks, Mean: num(s.Mean)}
			for _, c := range s.Clusters {
				sj.Clusters = append(sj.Clusters, groupJSON{Cluster: c.Cluster, Tasks: c.Tasks, Mean: num(c.Mean)})
			}
			for _, c := range s.Subclusters {
				sj.Subclusters = append(sj.Subclusters, groupJSON{c.Cluster, c.Subcluster, c.Tasks, num(c.Mean)})
			}
			j.EvalSummaries = append(j.EvalSummaries, sj)
		}
	}
	return j
}
